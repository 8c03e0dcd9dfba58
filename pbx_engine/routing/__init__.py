"""Routing: where an inbound call goes. For now every inbound call is identified (FastAGI look-up
in the dialplan), recorded with its case, told that we will call back, and ended; the IVR and
ACD to the case owner build on this."""
