"""Dialer: turns "call this number for this case" into a call attempt on record and on the wire,
shares the floor with the other engines on the database (their agents counted by predictive
pacing, a person no agent here can take handed to an engine with a ready one), and takes over
the calls and agents of another engine found gone from the PBX."""
