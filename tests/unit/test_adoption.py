"""Which calls found up after a restart were left with nobody: answered, never put through to
an agent, never ended by an abandon or a message on a machine."""

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from pbx_engine.dialer.service import may_be_orphaned
from pbx_engine.storage import Attempt

AT = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
RINGING = Attempt(
    id=1, channel_id="out-1", direction="outbound", case_id=7, phone_number_id=3,
    campaign_id=1, agent_id=None, dialled="+12025550100", caller_id=None, created_at=AT,
    originated_at=AT, ringing_at=AT, answered_at=None, amd_status=None, amd_cause=None,
    amd_decided_at=None, bridged_at=None, ended_at=None, hangup_cause=None,
    hangup_cause_text=None, outcome="pending",
)  # fmt: skip
ANSWERED = replace(RINGING, answered_at=AT)


@pytest.mark.parametrize(
    ("attempt", "orphaned"),
    [
        (RINGING, False),  # still ringing: Asterisk's dial timeout ends it
        (ANSWERED, True),  # under AMD when the engine died
        (replace(ANSWERED, amd_status="HUMAN", amd_decided_at=AT), True),  # waiting for an agent
        (replace(ANSWERED, amd_status="MACHINE", amd_decided_at=AT), True),  # message not begun
        (replace(ANSWERED, bridged_at=AT), False),  # with an agent: his bridge holds it
        (replace(ANSWERED, abandoned=True), False),  # hearing the apology already
        (replace(ANSWERED, message_started_at=AT), False),  # a message being left
        (replace(ANSWERED, direction="inbound"), False),  # the dialplan's, in a queue or IVR
    ],
)
def test_given_an_attempt_found_up_after_a_restart_then_it_is_orphaned_only_if_nobody_has_it(
    attempt, orphaned
):
    assert may_be_orphaned(attempt) is orphaned
