"""The events websocket's liveness deadline: when to ping, when a silent link is dead."""

from __future__ import annotations

import pytest

from pbx_engine.ari.liveness import SilenceWatch, Verdict
from pbx_engine.config import AriConfig


def _watch() -> SilenceWatch:
    return SilenceWatch(ping_after=5.0, dead_after=10.0, last_heard=100.0)


def test_given_a_link_just_heard_when_asked_then_it_waits_until_the_ping_is_due():
    watch = _watch()
    assert watch.wait(101.0) == pytest.approx(4.0)
    assert watch.verdict(101.0) is Verdict.WAIT


def test_given_silence_for_ping_after_then_it_pings_once_and_waits_for_the_deadline():
    watch = _watch()
    assert watch.verdict(105.0) is Verdict.PING
    assert watch.wait(105.0) == pytest.approx(5.0)
    assert watch.verdict(107.0) is Verdict.WAIT  # no second ping while the first is in time


def test_given_the_ping_unanswered_when_dead_after_passes_then_the_link_is_dead():
    watch = _watch()
    watch.verdict(105.0)
    assert watch.verdict(110.0) is Verdict.DEAD


def test_given_a_pong_when_heard_then_the_clock_starts_again():
    watch = _watch()
    watch.verdict(105.0)
    watch.heard(105.2)
    assert not watch.pinged
    assert watch.verdict(110.0) is Verdict.WAIT
    assert watch.verdict(110.2) is Verdict.PING
    assert watch.verdict(115.2) is Verdict.DEAD


def test_given_a_late_wake_up_past_the_deadline_then_dead_without_a_ping():
    # A loop stalled past the whole deadline: nothing was heard for dead_after, dead it is.
    assert _watch().verdict(130.0) is Verdict.DEAD


def test_the_wait_never_reaches_zero_which_would_mean_no_timeout():
    watch = _watch()
    watch.verdict(105.0)
    assert watch.wait(200.0) > 0


@pytest.mark.parametrize(("ping_after", "dead_after"), [(0.0, 10.0), (10.0, 10.0), (12.0, 10.0)])
def test_a_ping_must_come_before_the_deadline(ping_after, dead_after):
    with pytest.raises(ValueError):
        SilenceWatch(ping_after=ping_after, dead_after=dead_after, last_heard=0.0)


def test_given_no_setting_then_a_half_open_link_is_dead_within_ten_seconds():
    config = AriConfig(url="http://127.0.0.1:8088", username="engine")
    assert (config.heartbeat, config.dead_after) == (5.0, 10.0)


def test_given_a_heartbeat_not_shorter_than_dead_after_then_the_config_is_refused():
    with pytest.raises(ValueError, match="heartbeat must be shorter than dead_after"):
        AriConfig(url="http://127.0.0.1:8088", username="engine", heartbeat=10, dead_after=10)
