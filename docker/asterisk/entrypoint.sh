#!/bin/sh
# Renders Asterisk's configuration with the engine's own code from the operator's engine.toml
# (mounted at /etc/pbx-engine; secrets from PBX_ENGINE_ARI_PASSWORD and PBX_ENGINE_AMI_SECRET),
# the same command as on a plain host, then runs Asterisk in the foreground, never as root: the
# image runs as the `asterisk` user; started as root anyway (`--user root`, a root-owned mount),
# the runtime folder goes to that user and Asterisk drops to it (-U/-G). PBX_ENGINE_NODE names the
# media node this host is, one of the config's [[ari.nodes]] (render --node); unset: [ari]'s own.
set -eu
config=${PBX_ENGINE_CONFIG:-/etc/pbx-engine/engine.toml}
run=${RUN_DIR:-/var/lib/pbx-asterisk}
node=${PBX_ENGINE_NODE:-}
if [ "$(id -u)" = 0 ]; then
    id asterisk >/dev/null 2>&1 || { echo "no asterisk user to run Asterisk as" >&2; exit 1; }
    pbx-engine asterisk render --config "$config" --out "$run" --owner asterisk ${node:+--node "$node"}
    exec asterisk -U asterisk -G asterisk -C "$run/etc/asterisk.conf" -f -n -vvv
fi
pbx-engine asterisk render --config "$config" --out "$run" ${node:+--node "$node"}
exec asterisk -C "$run/etc/asterisk.conf" -f -n -vvv
