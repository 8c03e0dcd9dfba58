#!/bin/sh
# Renders the project's Asterisk configuration (the @@NAME@@ placeholders the sandboxes fill
# in too) from the environment, then runs Asterisk in the foreground, never as root: the image
# runs as the `asterisk` user; started as root anyway (`--user root`, a root-owned mount), this
# hands the runtime folder to that user and has Asterisk drop to it (-U/-G).
set -eu
: "${ARI_PASSWORD:?set ARI_PASSWORD}"
: "${AMI_SECRET:?set AMI_SECRET}"
: "${TRUNK_HOST:?set TRUNK_HOST (the carrier SIP address)}"
run=${RUN_DIR:-/var/lib/pbx-asterisk}
src=${PBX_ENGINE_SRC:-/opt/pbx-engine}
mkdir -p "$run/etc" "$run/lib" "$run/spool" "$run/run" "$run/log" "$run/agi-bin" "$run/sounds/moh" "$run/recordings"
# Music on hold plays the files found here; without any, bridges' hold music stays silent.
[ -n "$(ls -A "$run/sounds/moh")" ] || cp /usr/share/asterisk/sounds/en/beep.* "$run/sounds/moh/" 2>/dev/null || true
render() {
    sed -e "s|@@RUN_DIR@@|$run|g" \
        -e "s|@@MODULES_DIR@@|/usr/lib/asterisk/modules|g" \
        -e "s|@@DATA_DIR@@|/usr/share/asterisk|g" \
        -e "s|@@HTTP_PORT@@|${ARI_PORT:-8088}|g" \
        -e "s|@@ARI_USERNAME@@|${ARI_USERNAME:-pbx-engine}|g" \
        -e "s|@@ARI_PASSWORD@@|$ARI_PASSWORD|g" \
        -e "s|@@ARI_APP@@|${ARI_APP:-pbx-engine}|g" \
        -e "s|@@AGI_URL@@|${AGI_URL:-agi://127.0.0.1:4573}|g" \
        -e "s|@@AMI_PORT@@|${AMI_PORT:-5038}|g" \
        -e "s|@@AMI_USERNAME@@|${AMI_USERNAME:-pbx-engine}|g" \
        -e "s|@@AMI_SECRET@@|$AMI_SECRET|g" \
        -e "s|@@SIP_HOST@@|${SIP_HOST:-0.0.0.0}|g" \
        -e "s|@@SIP_PORT@@|${SIP_PORT:-5060}|g" \
        -e "s|@@PEER_HOST@@|$TRUNK_HOST|g" \
        -e "s|@@PEER_PORT@@|${TRUNK_PORT:-5060}|g" \
        -e "s|@@RTP_START@@|${RTP_START:-10000}|g" \
        -e "s|@@RTP_END@@|${RTP_END:-20000}|g" \
        -e "s|@@SOUNDS_DIR@@|$run/sounds|g" \
        -e "s|@@RECORDINGS_DIR@@|$run/recordings|g" \
        -e "s|@@AGENTS@@||g" \
        "$1"
}
for f in "$src"/asterisk-config/common/*.conf "$src"/asterisk-config/engine/*.conf; do
    render "$f" > "$run/etc/$(basename "$f")"
done
render "$src/dialplans/engine.conf" > "$run/etc/dialplan.conf"
# Agents' phones: a file of pjsip sections (see asterisk-config/engine/pjsip.conf's templates)
# mounted at /etc/pbx-engine/agents.conf is appended as it is.
if [ -f /etc/pbx-engine/agents.conf ]; then
    cat /etc/pbx-engine/agents.conf >> "$run/etc/pjsip.conf"
fi
if grep -rl '@@' "$run/etc" >/dev/null; then
    echo "unfilled placeholders in: $(grep -rl '@@' "$run/etc")" >&2
    exit 1
fi
if [ "$(id -u)" = 0 ]; then
    id asterisk >/dev/null 2>&1 || { echo "no asterisk user to run Asterisk as" >&2; exit 1; }
    chown -R asterisk:asterisk "$run"
    exec asterisk -U asterisk -G asterisk -C "$run/etc/asterisk.conf" -f -n -vvv
fi
exec asterisk -C "$run/etc/asterisk.conf" -f -n -vvv
