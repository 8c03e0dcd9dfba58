"""Number look-ups before a number is dialled or texted: what an HLR-style provider says of it
(valid or not, its line type, its carrier), behind one small interface (`provider.py`) with one
adapter (Twilio's Lookup API, `twilio.py`); what a look-up changes, and how long it is kept
(`service.py`). Without a provider, `phonenumbers` and the call history (dead numbers) decide,
as they always do."""
