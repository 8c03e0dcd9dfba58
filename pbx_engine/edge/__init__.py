"""The SIP edge: Kamailio in front of the Asterisk media nodes, configured from the project's
kamailio/kamailio.cfg (`pbx-engine kamailio render`). It owns what the proxy is told (where it
listens, which nodes it spreads calls over, how often it probes them), checked before a byte
is written, so a typo never becomes a proxy that starts and routes nowhere."""
