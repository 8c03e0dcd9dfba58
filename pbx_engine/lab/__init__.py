"""The lab: the test bed and the tools that measure the engine, none of it run in production.

Owns the sandboxes (private Asterisk, "PSTN" Asterisk, SIPp phones, PostgreSQL), the demo, the
AMD corpus generator, benchmark and offline evaluator, the pacing simulator with its scenario
files, benchmark and chart, and the builder of the debtor menu's prompt files (espeak-ng). The
lab imports the runtime freely; the runtime never imports the lab (a unit test holds to that),
and the production image leaves it out. The `pbx-engine` commands that use it (`demo`,
`prompts`, `amd`, `bench`) import it only when they run.
"""
