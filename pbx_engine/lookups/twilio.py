"""Twilio's Lookup API (v2) with its Line Type Intelligence package: `GET
/v2/PhoneNumbers/{number}?Fields=line_type_intelligence` with HTTP Basic authentication (an API
key and its secret, or the account SID and auth token). The reading of its answer is pure."""

from __future__ import annotations

from typing import Any

import aiohttp

from pbx_engine.lookups.provider import LineCheck, LineType, LookupFailed

# Line Type Intelligence's `type` values, as the engine acts on them.
_TYPES = {
    "mobile": LineType.MOBILE,
    "landline": LineType.LANDLINE,
    "fixedVoip": LineType.VOIP,
    "nonFixedVoip": LineType.VOIP,
    "tollFree": LineType.TOLL_FREE,
    "personal": LineType.OTHER,
    "premium": LineType.OTHER,
    "sharedCost": LineType.OTHER,
    "uan": LineType.OTHER,
    "voicemail": LineType.OTHER,
    "pager": LineType.OTHER,
    "unknown": LineType.UNKNOWN,
}


def line_check_of(e164: str, answer: dict[str, Any]) -> LineCheck:
    """What an answer of Lookup v2 says of `e164`."""
    if answer.get("valid") is False:
        errors = answer.get("validation_errors") or []
        why = ", ".join(str(e) for e in errors) if errors else "not a valid number"
        return LineCheck(e164, False, why=f"lookup: {why}")
    intelligence = answer.get("line_type_intelligence") or {}
    if intelligence.get("error_code"):
        # The package could not say (a country without coverage, say): valid, type unknown.
        return LineCheck(e164, True)
    return LineCheck(
        e164,
        True,
        _TYPES.get(str(intelligence.get("type")), LineType.UNKNOWN),
        str(intelligence["carrier_name"])[:100] if intelligence.get("carrier_name") else None,
    )


class TwilioLookup:
    name = "twilio"

    def __init__(self, api_url: str, username: str, password: str, *, timeout: float) -> None:
        self._url = api_url.rstrip("/")
        self._auth = aiohttp.BasicAuth(username, password)
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def check(self, e164: str) -> LineCheck:
        url = f"{self._url}/v2/PhoneNumbers/{e164}"
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout, auth=self._auth) as session,
                session.get(url, params={"Fields": "line_type_intelligence"}) as response,
            ):
                if response.status == 404:
                    return LineCheck(e164, False, why="lookup: no such number")
                if response.status != 200:
                    said = (await response.text())[:200]
                    raise LookupFailed(f"Twilio Lookup answered {response.status}: {said}")
                answer = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise LookupFailed(f"Twilio Lookup: {error or type(error).__name__}") from None
        if not isinstance(answer, dict):
            raise LookupFailed("Twilio Lookup answered something that is not a JSON object")
        return line_check_of(e164, answer)
