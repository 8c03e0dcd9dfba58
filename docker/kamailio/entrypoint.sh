#!/bin/sh
# Renders Kamailio's configuration into its runtime folder (a tmpfs) from the environment, then
# becomes Kamailio. KAMAILIO_NODES: the Asterisk nodes, sip:ADDRESS:PORT separated by commas;
# KAMAILIO_LISTEN: where carriers send (udp:ADDRESS:PORT). A wrong value stops the start,
# naming it.
set -eu
run=/run/pbx-kamailio
pbx-engine kamailio render \
    --listen "${KAMAILIO_LISTEN:-udp:0.0.0.0:5060}" \
    --node "${KAMAILIO_NODES:?set KAMAILIO_NODES}" \
    --probe-seconds "${KAMAILIO_PROBE_SECONDS:-1}" \
    --out "$run"
exec kamailio -DD -E -f "$run/kamailio.cfg" -Y "$run" "$@"
