"""What ARI plays: media URIs (`sound:`, `recording:`, `tone:`, `digits:`, `number:`)."""

from __future__ import annotations

MEDIA_SCHEMES = ("sound:", "recording:", "tone:", "digits:", "number:")


def as_media(sound: str) -> str:
    """An operator's sound, an Asterisk file name as the dialplan's Playback() takes it (or
    ARI media already), as ARI media."""
    return sound if sound.startswith(MEDIA_SCHEMES) else f"sound:{sound}"
