#!/usr/bin/env bash
# Installs the engine on a plain Debian host (README, "Running it for real"):
#   /opt/pbx-engine              the source tree, and its virtual environment .venv with the
#                                project installed in it (not editable)
#   /usr/local/bin/pbx-engine    the command, pointed at that tree's sql/ and templates and at
#                                the secrets below
#   /etc/pbx-engine/             engine.toml, numbers.toml, agents.conf, campaigns/first.toml
#                                and secrets.env (mode 0600, random secrets): made once, never
#                                overwritten, so a second run keeps the operator's edits
#   /etc/systemd/system/         pbx-engine.service and pbx-asterisk.service (docker/systemd/)
#   the system user pbx-engine   the engine runs as it
#
#   scripts/install.sh                       as root
#   DESTDIR=/some/dir scripts/install.sh     the same files under /some/dir, as any user; the
#                                            machine is left alone (no user, no systemctl): what
#                                            root would do is listed in
#                                            /some/dir/pbx-engine-system-steps.txt
#   PBX_ENGINE_INSTALL_SKIP_VENV=1           copy and configure only, no virtual environment
# Idempotent. It enables and starts nothing: the README says when.
set -euo pipefail
umask 022  # what it makes is root's and read by others; secrets get their own mode

here=$(cd "$(dirname "$0")/.." && pwd)
destdir=${DESTDIR:-}
destdir=${destdir%/}
python=${PYTHON:-python3}
skip_venv=${PBX_ENGINE_INSTALL_SKIP_VENV:-0}

prefix=/opt/pbx-engine
etc=/etc/pbx-engine
units=/etc/systemd/system
command=/usr/local/bin/pbx-engine
user=pbx-engine
steps=$destdir/pbx-engine-system-steps.txt

# What goes into $prefix: what the engine and Asterisk's rendering read, and the deployment
# files. The lab (sandboxes, demo, benches) stays out, as in the container image.
tree=(pyproject.toml README.md pbx_engine ari_apps sql asterisk-config dialplans docker)

log() { printf '[install] %s\n' "$*" >&2; }
die() { printf '[install] error: %s\n' "$*" >&2; exit 1; }

# A change to the machine itself (users, ownership, systemd): done as root, or under DESTDIR
# only written down.
system() {
    if [ -n "$destdir" ]; then
        printf '%s\n' "$*" >> "$steps"
        log "would run: $*"
    else
        "$@"
    fi
}

preflight() {
    if [ -z "$destdir" ] && [ "$(id -u)" -ne 0 ]; then
        die "run it as root, or with DESTDIR=/some/dir to write the files under that folder only"
    fi
    [ -f "$here/pyproject.toml" ] && [ -d "$here/pbx_engine" ] \
        || die "$here is not the pbx-engine source tree (no pyproject.toml or pbx_engine/)"
    command -v "$python" >/dev/null || die "$python not found: apt-get install python3"
    "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "$python is older than 3.11: Debian 12 or newer is needed"
    if [ "$skip_venv" != 1 ] && [ ! -x "$destdir$prefix/.venv/bin/python" ]; then
        "$python" -c 'import ensurepip, venv' 2>/dev/null \
            || die "python3-venv is missing: apt-get install python3-venv"
    fi
    if [ -n "$destdir" ]; then
        mkdir -p "$destdir"
        : > "$steps"
    fi
}

make_user() {
    if [ -z "$destdir" ] && getent passwd "$user" >/dev/null; then
        log "user $user exists"
        return
    fi
    system useradd --system --user-group --home-dir /var/lib/pbx-engine --no-create-home \
        --shell /usr/sbin/nologin "$user"
}

copy_tree() {
    local dest=$destdir$prefix
    mkdir -p "$dest"
    if [ "$(cd "$dest" && pwd -P)" = "$(cd "$here" && pwd -P)" ]; then
        log "installing from $dest itself: the tree stays as it is"
        return
    fi
    log "copying the source tree to $dest"
    # Replaced whole, so a file removed from the project does not linger; .venv stays.
    for item in "${tree[@]}"; do rm -rf "${dest:?}/$item"; done
    # Owned by whoever installs (root), not by the clone's owner: the services run this code,
    # and pbx-asterisk.service runs it as root.
    tar -C "$here" --exclude=__pycache__ --exclude='*.egg-info' --exclude=pbx_engine/lab \
        --exclude=docker/config --exclude=docker/.env -cf - "${tree[@]}" \
        | tar -C "$dest" --no-same-owner --no-same-permissions -xf -
}

python_env() {
    local dest=$destdir$prefix
    if [ "$skip_venv" = 1 ]; then
        log "PBX_ENGINE_INSTALL_SKIP_VENV=1: no virtual environment"
        return
    fi
    if [ ! -x "$dest/.venv/bin/python" ]; then
        log "creating the virtual environment $dest/.venv"
        "$python" -m venv "$dest/.venv"
    fi
    log "installing the project into $dest/.venv"
    "$dest/.venv/bin/pip" install -q --disable-pip-version-check "$dest"
    rm -rf "$dest/build" "$dest"/*.egg-info  # pip's build leftovers in the tree
}

# The command on PATH: the venv's, with the folders it reads from the tree beside it (the
# installed package is not in the tree) and the secrets systemd gives the service.
write_command() {
    mkdir -p "$destdir${command%/*}"
    cat > "$destdir$command" <<SH
#!/bin/sh
# Made by scripts/install.sh: pbx-engine as installed in $prefix.
export PBX_ENGINE_SQL_DIR="\${PBX_ENGINE_SQL_DIR:-$prefix/sql}"
export PBX_ENGINE_ASTERISK_CONFIG_DIR="\${PBX_ENGINE_ASTERISK_CONFIG_DIR:-$prefix/asterisk-config}"
export PBX_ENGINE_DIALPLANS_DIR="\${PBX_ENGINE_DIALPLANS_DIR:-$prefix/dialplans}"
export PYTHONDONTWRITEBYTECODE=1
# The service's secrets, for the commands root runs by hand (migrate, agent, asterisk render);
# a variable already set wins. Quotes around a value are systemd's: dropped, as it does.
if [ -r $etc/secrets.env ]; then
    while IFS='=' read -r key value; do
        case \$value in
            \"*\") value=\${value#\"}; value=\${value%\"} ;;
            \'*\') value=\${value#\'}; value=\${value%\'} ;;
        esac
        case \$key in
            PBX_ENGINE_[A-Z_]*) printenv "\$key" >/dev/null || export "\$key=\$value" ;;
        esac
    done < $etc/secrets.env
fi
exec $prefix/.venv/bin/pbx-engine "\$@"
SH
    chmod 0755 "$destdir$command"
}

# NAME=hex lines, one per NAME:BYTES argument.
random_secrets() {
    "$python" -c 'import secrets, sys
for arg in sys.argv[1:]:
    name, size = arg.split(":")
    print(f"{name}={secrets.token_hex(int(size))}")' "$@"
}

# Written only when missing: the operator's edits survive a second run.
keep_or_write() {
    local path=$1 mode=$2
    if [ -e "$path" ]; then
        log "keeping $path"
        return 1
    fi
    log "writing $path"
    install -m "$mode" /dev/null "$path"
}

plain_host_config() {
    sed -e '1,/^$/{/^$/!d}' "$here/docker/engine.example.toml" \
        | sed -e 's|^# agents_file = "/etc/pbx-engine/agents.conf"|agents_file = "/etc/pbx-engine/agents.conf"|'
}

write_config() {
    local dir=$destdir$etc
    mkdir -p "$dir/campaigns"
    chmod 0750 "$dir"
    if keep_or_write "$dir/engine.toml" 0640; then
        {
            echo "# pbx-engine on this host (made by scripts/install.sh from docker/engine.example.toml)."
            echo "# Every key is checked: a typo is an error that names the key. Secrets are not in"
            echo "# here: $etc/secrets.env holds them (PBX_ENGINE_ARI_PASSWORD, PBX_ENGINE_AMI_SECRET,"
            echo "# PBX_ENGINE_DATABASE_PASSWORD, PBX_ENGINE_HTTP_SECRET) for both services."
            echo "# Set [asterisk] trunk_host (your carrier) and [dialer] caller_id before the first call."
            plain_host_config
        } > "$dir/engine.toml"
    fi
    if keep_or_write "$dir/numbers.toml" 0640; then
        cp "$here/docker/numbers.example.toml" "$dir/numbers.toml"
    fi
    # check-config (the service's ExecStartPre) wants a campaign; an operator's own ones replace
    # this one, which is never made again while any is there.
    if ! compgen -G "$dir/campaigns/*.toml" >/dev/null; then
        log "writing $dir/campaigns/first.toml"
        install -m 0640 /dev/null "$dir/campaigns/first.toml"
        cat > "$dir/campaigns/first.toml" <<'TOML'
# A first campaign, so the engine has one to start with: in preview mode nothing is dialled
# until an agent asks for the next case. pbx_engine/campaigns/config.py documents every key.
name = "first"
dial_mode = "preview"
TOML
    fi
    if keep_or_write "$dir/agents.conf" 0600; then
        cat > "$dir/agents.conf" <<'CONF'
; Agents' softphones written by hand: pjsip.conf sections that `pbx-engine asterisk render`
; appends as they are ([asterisk] agents_file). `pbx-engine agent add` makes an agent's account
; in Asterisk itself; use this file only for an endpoint you name with
; `pbx-engine agent add --endpoint NAME --existing-endpoint`. One block per agent.
; The passwords are the softphones' own: this file stays root's (mode 0600).
;
; [agent-001](agent-endpoint)
; auth = agent-001
; aors = agent-001
;
; [agent-001](agent-aor)
;
; [agent-001](agent-auth)
; username = agent-001
; password = a-password-of-your-own
CONF
    fi
    if keep_or_write "$dir/secrets.env" 0600; then
        {
            echo "# pbx-engine's secrets (systemd EnvironmentFile of pbx-engine and pbx-asterisk),"
            echo "# made at random by scripts/install.sh; it never rewrites this file."
            random_secrets PBX_ENGINE_DATABASE_PASSWORD:24 PBX_ENGINE_ARI_PASSWORD:24 \
                PBX_ENGINE_AMI_SECRET:24 PBX_ENGINE_HTTP_SECRET:32
        } > "$dir/secrets.env"
    elif [ "$(stat -c %a "$dir/secrets.env")" != 600 ]; then
        log "warning: $dir/secrets.env is mode $(stat -c %a "$dir/secrets.env"), not 0600"
    fi
    # The engine (user pbx-engine) reads its config; secrets.env and agents.conf are read by
    # systemd and by Asterisk's rendering, both root.
    system chown -R root:"$user" "$etc/engine.toml" "$etc/numbers.toml" "$etc/campaigns"
    system chown root:"$user" "$etc"
}

install_units() {
    mkdir -p "$destdir$units"
    for unit in pbx-engine.service pbx-asterisk.service; do
        install -m 0644 "$here/docker/systemd/$unit" "$destdir$units/$unit"
    done
    log "units in $destdir$units (overrides belong in drop-ins: systemctl edit pbx-engine)"
    if [ -n "$destdir" ] || [ -d /run/systemd/system ]; then
        system systemctl daemon-reload
    else
        log "systemd is not running here: no daemon-reload"
    fi
}

preflight
make_user
copy_tree
python_env
write_command
write_config
install_units
log "done: edit $etc/engine.toml, then follow the README (\"Running it for real\")"
