"""Sandboxes: private Asterisk, "PSTN" Asterisk, SIP peers and PostgreSQL for tests and the demo.

Each sandbox runs in a runtime folder of its own on free ports, reports a missing binary or a
taken port clearly, and removes what it started when it stops, even after a failure."""
