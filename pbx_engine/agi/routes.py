"""FastAGI routes the dialplan calls, each a thin adapter from AGI to a storage query."""

from __future__ import annotations

import structlog

from pbx_engine.agi.server import AgiCall, AgiHandler
from pbx_engine.numbers import BadNumber, to_e164
from pbx_engine.storage import Storage

log = structlog.get_logger(__name__)


def lookup_case(storage: Storage, default_region: str) -> AgiHandler:
    """`AGI(agi://…/lookup_case,CALLER,DID)`: sets CASE_ID, CASE_REF and CASE_OWNER (empty when
    the caller's number belongs to no case), so the call enters Stasis already identified. The
    DID he called (a number we presented) picks, of his cases, the one we called him about."""

    async def handler(call: AgiCall) -> None:
        raw = call.args[0] if call.args else call.caller_number
        try:
            number = to_e164(raw, default_region)
        except BadNumber as error:
            log.info("agi.lookup_unparseable", caller=raw, reason=str(error))
            number = None
        did = None
        if len(call.args) > 1 and call.args[1]:
            try:
                did = to_e164(call.args[1], default_region)
            except BadNumber:
                did = None
        match = await storage.cases.find_case_by_number(number, did) if number else None
        log.info(
            "agi.lookup_case",
            caller=number,
            did=did,
            found=match is not None,
            matched_by=match.matched_by if match else None,
        )
        owner = match.owner_agent_id if match and match.owner_agent_id else ""
        # A reference that could end the AGI command (stored before references were checked,
        # or written into the database by hand) is refused with all three: the call goes on
        # unidentified rather than half-identified.
        await call.set_variables(
            {
                "CASE_ID": str(match.case_id) if match else "",
                "CASE_REF": match.reference if match else "",
                "CASE_OWNER": str(owner),
            }
        )

    return handler
