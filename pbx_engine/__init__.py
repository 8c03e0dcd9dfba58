"""pbx-engine: a telephony engine for debt-collection contact centres on Asterisk."""
