"""Dialer: turns "call this number for this case" into a call attempt on record and on the wire,
and takes over the calls and agents of another engine found gone from the PBX."""
