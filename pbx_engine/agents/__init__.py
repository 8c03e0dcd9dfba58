"""Agents: who is logged in, in what state, and the softphone leg each keeps for the shift.

An agent's phone is called once at login and stays in the agent's own bridge for the whole
shift; a debtor who answers is moved into that bridge, so the agent hears no ringing.
"""
