"""Conferences: third parties added to an agent's live call (by number or by agent, from the
API or a feature code keyed on the softphone), and named rooms with PINs, a moderator,
a size limit, entry and exit tones and invitation links.

Pure parts: `feature_codes` (the keys an agent presses), `rooms` (who may enter a room, as
what), `invitations` (signed, expiring links). ARI parts: `parties`, `room_service`.

Both are built on ARI mixing bridges, not ConfBridge: every member stays a channel of our
Stasis app, so muting, kicking, recording and supervision are the same ARI calls as on any
other call, and a member moves between a call and a room without leaving the engine's hands.
"""
