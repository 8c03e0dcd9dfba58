"""Browser phones a crashed run left in Asterisk (real Asterisk, real PostgreSQL): the next run,
or the engine that takes the crashed one over, takes out those that carry no call."""

from __future__ import annotations

from pbx_engine.agents.browser_phones import PJSIP, BrowserPhones, widget_ticket
from pbx_engine.engine import Engine

ENGINE = "left-phones"  # an engine of its own: the shared engine's phones are not touched
RTP_TIMEOUT = 30


async def in_asterisk(engine: Engine, endpoint: str) -> list[str]:
    """Which of the phone's three objects Asterisk has."""
    return [
        kind
        for kind in ("endpoint", "aor", "auth")
        if await engine.ari.get_config_object(PJSIP, kind, endpoint) is not None
    ]


async def test_phones_an_earlier_run_left_are_taken_out_but_for_one_on_a_call(
    connected_engine: Engine, ready_agent
):
    engine = connected_engine
    ari, records = engine.ari, engine.storage.browser_phones
    await engine.storage.agents.upsert_agent("zoe", "Zoe Left")
    zoe = await engine.storage.agents.get_agent("zoe")
    # A run that crashed, and another engine that died: their phones pushed and on record.
    crashed = BrowserPhones(ari, records, ENGINE, RTP_TIMEOUT)
    dead = BrowserPhones(ari, records, "left-phones-dead", RTP_TIMEOUT)
    desk = await crashed.issue("zoe", zoe.id)
    widget_caller = await crashed.issue_guest(widget_ticket(None))
    dead_guest = await dead.issue_guest("an-invitation")
    # anna's phone, with her shift leg up on it, as though the crashed run had made it.
    await records.issued("agent-001", ENGINE, crashed.life, login="anna")
    made = [desk.endpoint, widget_caller.endpoint, dead_guest.endpoint]
    try:
        for endpoint in made:
            assert await in_asterisk(engine, endpoint) == ["endpoint", "aor", "auth"]
        restarted = BrowserPhones(ari, records, ENGINE, RTP_TIMEOUT)
        # The dead engine taken over by this one: its phones are this one's to take out.
        assert await records.hand_over("left-phones-dead", to=ENGINE) == 1
        left = await restarted.withdraw_left()
        assert sorted(left.withdrawn) == sorted(made)
        assert left.kept == ["agent-001"]  # on a call: a later sweep takes it
        for endpoint in made:
            assert await in_asterisk(engine, endpoint) == [], endpoint
        assert [p.endpoint for p in await records.left(ENGINE, restarted.life)] == ["agent-001"]
        # The phones this run makes are its own: a sweep leaves them.
        mine = await restarted.issue("zoe", zoe.id)
        assert (await restarted.withdraw_left()).withdrawn == []
        assert await in_asterisk(engine, mine.endpoint) == ["endpoint", "aor", "auth"]
        await restarted.withdraw("zoe")
        assert await in_asterisk(engine, mine.endpoint) == []
        assert [p.endpoint for p in await records.left(ENGINE, "a-later-run")] == ["agent-001"]
    finally:
        await engine.storage.pool.execute(
            "DELETE FROM browser_phones WHERE engine = ANY($1)", [ENGINE, "left-phones-dead"]
        )
