"""Dialer: turns "call this number for this case" into a call attempt on record and on the wire."""
