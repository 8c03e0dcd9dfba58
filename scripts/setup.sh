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
    local debs=(sip-tester postgresql espeak-ng sox libsox-fmt-all procps python3-venv chromium
                fonts-liberation nginx-light)
    local missing=()
    for p in "${debs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    local have_asterisk=1
    command -v asterisk >/dev/null && [ -e /usr/lib/asterisk/modules/app_amd.so ] || have_asterisk=0
    if [ ${#missing[@]} -eq 0 ] && [ $have_asterisk -eq 1 ]; then
        log "system packages present"
        return
    fi
    export DEBIAN_FRONTEND=noninteractive
    # Package post-install scripts must not start system services (a system Asterisk would hold
    # port 5060 and the sandboxes start their own instances anyway).
    local policy=/usr/sbin/policy-rc.d
    if [ ! -e $policy ]; then
        $sudo sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod +x $policy"
        trap "$sudo rm -f $policy" EXIT
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
    # Nothing of the system's own Asterisk should run: sandboxes bring their own.
    $sudo pkill -x asterisk 2>/dev/null || true
}

install_asterisk() {
    local sudo=$1
    if apt-cache policy asterisk 2>/dev/null | grep -q 'Candidate: [0-9]'; then
        log "installing the distribution's Asterisk"
        $sudo apt-get install -y -qq --no-install-recommends asterisk asterisk-modules asterisk-config >/dev/null
        return
    fi
    # Debian 12 has no Asterisk; Debian 11's package installs cleanly. Use a private sources list
    # and lists folder so the system's own apt configuration stays untouched.
    log "installing Asterisk from Debian 11 (bullseye) packages"
    local dir=/var/lib/pbx-engine-apt
    $sudo mkdir -p "$dir/lists/partial"
    $sudo sh -c "cat > $dir/sources.list" <<'LIST'
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bookworm-security main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bullseye main
LIST
    local opts=(-o "Dir::Etc::sourcelist=$dir/sources.list" -o Dir::Etc::sourceparts=/dev/null
                -o "Dir::State::Lists=$dir/lists")
    $sudo apt-get "${opts[@]}" update -qq
    $sudo apt-get "${opts[@]}" install -y -qq --no-install-recommends \
        asterisk/bullseye asterisk-modules/bullseye asterisk-config/bullseye >/dev/null
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
        "$venv/bin/pip" install -q -e "$here[test]"
        touch "$stamp"
    else
        log "virtual environment up to date"
    fi
}

case "${1:-}" in
    --venv) python_env ;;
    "") system_packages; python_env ;;
    *) die "unknown option $1" ;;
esac
