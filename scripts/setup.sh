#!/usr/bin/env bash
# Installs everything the engine, its demo and its tests need on Debian 12 (or a Debian/Ubuntu
# release that ships Asterisk itself). Idempotent: a second run only checks.
#
#   scripts/setup.sh            system packages (needs root) + the Python virtual environment
#   scripts/setup.sh --venv     the virtual environment only
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
venv=${PBX_ENGINE_VENV:-$here/.venv}
python=${PYTHON:-python3}

log() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

# /usr/sbin/policy-rc.d, while this script installs packages: removed however the script ends,
# and only when this script made it (an administrator's own file stays).
bullseye_list=/var/lib/pbx-engine-apt/sources.list  # where Debian 12 gets its Asterisk from

policy_rc_d=/usr/sbin/policy-rc.d
made_policy=0
policy_sudo=
remove_policy_rc_d() {
    if [ "$made_policy" = 1 ]; then
        $policy_sudo rm -f "$policy_rc_d"
        made_policy=0
    fi
}
trap remove_policy_rc_d EXIT
trap 'remove_policy_rc_d; exit 130' INT TERM HUP

need_root() {
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || die "system packages need root (or sudo): $*"
        echo sudo
    fi
}

system_packages() {
    local sudo; sudo=$(need_root "apt-get install")
    # chromium: the browser tests of the agent desktop and the wallboard drive it (Playwright
    # cannot download its own browsers without internet); without recommended packages it
    # comes with no font to draw text with.
    # systemd: its systemd-analyze verifies the shipped unit (tests/security/test_deployment.py).
    # baresip-core: a real softphone, the agent and the debtor of the deployment test.
    # openssl: the SMTP sandbox's certificate (its STARTTLS is checked against it).
    # kannel, kannel-extras: the SMS gateway of the SMS tests, and its fake SMSC (the network).
    # dovecot-imapd: the mailbox debtors' e-mail replies arrive in (the IMAP sandbox).
    # iproute2: `ip netns`, the test hosts a test cuts off from the others.
    # kamailio: the SIP proxy in front of several Asterisk nodes (the cluster tests).
    # coturn: the TURN server browsers' media goes through when nothing else gets through.
    local debs=(sip-tester postgresql espeak-ng sox libsox-fmt-all procps python3-venv chromium
                fonts-liberation nginx-light systemd baresip-core openssl kannel kannel-extras
                dovecot-imapd iproute2 kamailio coturn)
    local missing=()
    for p in "${debs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    local have_asterisk=1
    command -v asterisk >/dev/null && [ -e /usr/lib/asterisk/modules/app_amd.so ] || have_asterisk=0
    # An Asterisk installed from bullseye before bullseye-security was in our list lacks its
    # security fixes: install it again, which upgrades it.
    if [ -e "$bullseye_list" ] && ! grep -q bullseye-security "$bullseye_list"; then
        log "Asterisk came from bullseye without bullseye-security: upgrading it"
        have_asterisk=0
    fi
    if [ ${#missing[@]} -eq 0 ] && [ $have_asterisk -eq 1 ]; then
        log "system packages present"
        return
    fi
    export DEBIAN_FRONTEND=noninteractive
    # Package post-install scripts must not start system services (a system Asterisk would hold
    # port 5060 and the sandboxes start their own instances anyway).
    local asterisk_was_running=0
    pgrep -x asterisk >/dev/null 2>&1 && asterisk_was_running=1
    if [ ! -e "$policy_rc_d" ]; then
        policy_sudo=$sudo
        made_policy=1  # before it exists: a signal in between still removes it
        $sudo sh -c "printf '#!/bin/sh\nexit 101\n' > $policy_rc_d && chmod +x $policy_rc_d"
    else
        log "keeping the existing $policy_rc_d (not ours): it decides whether services start"
    fi
    log "apt-get update"
    $sudo apt-get update -qq
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    if [ $have_asterisk -eq 0 ]; then
        install_asterisk "$sudo"
    fi
    remove_policy_rc_d
    # The sandboxes bring their own Asterisk. One the packages started anyway (an existing
    # policy-rc.d let them) may be someone's production PBX: it is left running, and said.
    if [ $asterisk_was_running -eq 0 ] && pgrep -x asterisk >/dev/null 2>&1; then
        local pids; pids=$(pgrep -x asterisk | tr '\n' ' ')
        log "note: a system Asterisk started during the installation (pid ${pids% });" \
            "it is left running: stop it yourself if its ports clash with the tests'"
    fi
}

install_asterisk() {
    local sudo=$1
    if apt-cache policy asterisk 2>/dev/null | grep -q 'Candidate: [0-9]'; then
        log "installing the distribution's Asterisk"
        $sudo apt-get install -y -qq --no-install-recommends asterisk asterisk-modules asterisk-config >/dev/null
        return
    fi
    # Debian 12 has no Asterisk; Debian 11's package installs cleanly. Use a private sources list,
    # preferences and lists folder so the system's own apt configuration stays untouched.
    # bullseye-security carries the Asterisk security fixes (and libssl1.1's); bullseye's
    # packages rank below bookworm's, so only Asterisk and what bookworm lacks come from there.
    log "installing Asterisk from Debian 11 (bullseye, with bullseye-security) packages"
    local dir=${bullseye_list%/*}
    $sudo mkdir -p "$dir/lists/partial"
    $sudo sh -c "cat > $bullseye_list" <<'LIST'
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bookworm-security main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bullseye main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bullseye-security main
LIST
    $sudo sh -c "cat > $dir/preferences" <<'PINS'
Package: *
Pin: release n=bullseye
Pin-Priority: 100

Package: *
Pin: release n=bullseye-security
Pin-Priority: 100

Package: asterisk asterisk-*
Pin: release n=bullseye-security
Pin-Priority: 500

Package: asterisk asterisk-*
Pin: release n=bullseye
Pin-Priority: 500
PINS
    local opts=(-o "Dir::Etc::sourcelist=$bullseye_list" -o Dir::Etc::sourceparts=/dev/null
                -o "Dir::Etc::preferences=$dir/preferences" -o Dir::Etc::preferencesparts=/dev/null
                -o "Dir::State::Lists=$dir/lists")
    $sudo apt-get "${opts[@]}" update -qq
    # By name, not asterisk/bullseye: the newest of bullseye and bullseye-security wins.
    $sudo apt-get "${opts[@]}" install -y -qq --no-install-recommends \
        asterisk asterisk-modules asterisk-config >/dev/null
}

python_env() {
    if [ ! -x "$venv/bin/python" ]; then
        log "creating virtual environment $venv"
        "$python" -m venv "$venv"
    fi
    local stamp=$venv/.pbx-engine-installed
    if [ ! -e "$stamp" ] || [ "$here/pyproject.toml" -nt "$stamp" ]; then
        log "installing the project into $venv"
        "$venv/bin/pip" install -q --upgrade pip >/dev/null
        "$venv/bin/pip" install -q -e "$here[test,lab]"
        touch "$stamp"
    else
        log "virtual environment up to date"
    fi
}

# The browser parts the engine serves itself (no CDN: a desk must work with no internet): the
# SIP-over-WebSocket library of the desk's softphone, at the version package-lock.json pins.
web_assets() {
    local vendor=$here/pbx_engine/web/static/vendor
    if [ -e "$vendor/jssip.min.js" ] && [ "$vendor/jssip.min.js" -nt "$here/package-lock.json" ]; then
        log "browser libraries up to date"
        return
    fi
    if ! command -v npm >/dev/null; then
        # Only when the machine has no npm at all: a Node.js of its own (NodeSource's, say)
        # carries npm, and Debian's npm package would conflict with it.
        local sudo; sudo=$(need_root "apt-get install nodejs npm")
        log "installing nodejs and npm (the desk's softphone library is built with them)"
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
    fi
    log "installing the browser libraries (npm ci, then one bundled file)"
    # JsSIP ships CommonJS modules: esbuild bundles them into one script the page loads.
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error >/dev/null \
        && npm run --silent build >/dev/null)
    cp "$here/node_modules/jssip/LICENSE.md" "$vendor/jssip.LICENSE.md"
}

case "${1:-}" in
    --venv) python_env; web_assets ;;
    "") system_packages; python_env; web_assets ;;
    *) die "unknown option $1" ;;
esac
