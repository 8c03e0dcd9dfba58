"""When a recording counts as failed, why, and when the engine stops calling itself ready
because of it: the pure decisions, tried exhaustively over small inputs; then the recorder
on stand-in ARI and storage, for what a failure leaves behind (its row, the counter, the desk,
`/ready`), and the folder check's clean-up."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta

import pytest

from pbx_engine.ari import AriError
from pbx_engine.ari.errors import ChannelGone
from pbx_engine.ari.events import RecordingFailed
from pbx_engine.metrics import EngineMetrics
from pbx_engine.readiness import check_readiness
from pbx_engine.recording import RecordingMode, RecordingPolicy
from pbx_engine.recording.health import (
    FAILING_RUN,
    FAILING_WITHIN,
    FOLDER_PROBLEM,
    FailureReason,
    RecordingHealth,
    RecordingTry,
    failing_calls_problem,
    failure_text,
    recording_problem,
    start_failure,
)
from pbx_engine.recording.service import CallRecorder, desk_state
from tests.waiting import eventually

NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
RECENT = timedelta(minutes=1)
STALE = FAILING_WITHIN + timedelta(seconds=1)


# ------------------------------------------------------------------ why it did not start
@pytest.mark.parametrize("step", ["snoop", "record"])
@pytest.mark.parametrize("status", [None, 400, 404, 409, 422, 500, 503])
def test_given_the_call_gone_when_a_step_fails_then_it_is_no_failure(step, status):
    assert start_failure(step, status, call_gone=True) is None


@pytest.mark.parametrize(
    ("step", "status", "reason"),
    [
        ("snoop", None, FailureReason.TIMEOUT),
        ("record", None, FailureReason.TIMEOUT),
        ("snoop", 400, FailureReason.NO_SNOOP),
        ("snoop", 500, FailureReason.NO_SNOOP),
        ("record", 400, FailureReason.OTHER),
        ("record", 499, FailureReason.OTHER),
        ("record", 500, FailureReason.NOT_WRITABLE),
        ("record", 503, FailureReason.NOT_WRITABLE),
    ],
)
def test_given_the_call_still_up_when_a_step_fails_then_the_reason_follows_step_and_status(
    step, status, reason
):
    assert start_failure(step, status, call_gone=False) is reason


def test_every_reason_has_words_for_the_desk_and_an_unknown_one_is_shown_as_stored():
    assert all(reason.text and reason.text != reason.value for reason in FailureReason)
    assert failure_text("not_writable") == FailureReason.NOT_WRITABLE.text
    assert failure_text("from a newer engine") == "from a newer engine"


# ------------------------------------------------------------------ when /ready fails
def _oracle(tries: list[RecordingTry], run: int) -> bool:
    """The rule said another way: a failing run is `run` tries at the end of the list, none
    recorded, none older than the window."""
    if len(tries) < run:
        return False
    tail = tries[len(tries) - run :]
    return all(not t.recorded and NOW - t.at <= FAILING_WITHIN for t in tail)


@pytest.mark.parametrize("run", [1, 2, 3, 4])
def test_every_history_of_up_to_six_tries_is_decided_as_the_rule_says(run):
    kinds = [(True, RECENT), (False, RECENT), (False, STALE), (True, STALE)]
    for length in range(7):
        for history in itertools.product(kinds, repeat=length):
            tries = [RecordingTry(NOW - age, recorded) for recorded, age in history]
            problem = failing_calls_problem(tries, NOW, run=run)
            assert (problem is not None) == _oracle(tries, run), history
            if problem is not None:
                assert "recorded" in problem and str(run) in problem


def test_given_the_defaults_then_three_failed_calls_in_a_row_make_the_engine_unready():
    assert FAILING_RUN == 3
    failed = [RecordingTry(NOW - RECENT, recorded=False)] * 2
    assert failing_calls_problem(failed, NOW) is None
    assert failing_calls_problem([*failed, RecordingTry(NOW, False)], NOW) == (
        "the last 3 recorded calls were not recorded"
    )


def test_given_a_failure_exactly_at_the_windows_edge_then_it_still_counts():
    edge = [RecordingTry(NOW - FAILING_WITHIN, recorded=False)] * 3
    assert failing_calls_problem(edge, NOW) is not None
    past = [RecordingTry(NOW - FAILING_WITHIN - timedelta(microseconds=1), False)] * 3
    assert failing_calls_problem(past, NOW) is None


def test_given_a_run_below_one_then_nothing_is_ever_failing():
    assert failing_calls_problem([RecordingTry(NOW, False)] * 5, NOW, run=0) is None


@pytest.mark.parametrize("folder", [None, FOLDER_PROBLEM])
@pytest.mark.parametrize("calls", [None, "the last 3 recorded calls were not recorded"])
def test_the_folder_checks_finding_comes_before_the_calls(folder, calls):
    assert recording_problem(folder, calls) == (folder or calls)


def test_given_failed_calls_when_the_folder_check_passes_then_ready_again():
    health = RecordingHealth()
    for _ in range(3):
        health.tried(NOW, recorded=False)
    assert health.failing(NOW)
    health.folder_checked(None)
    assert health.problem(NOW) is None


def test_given_a_failed_folder_check_when_a_call_is_recorded_then_ready_again():
    health = RecordingHealth()
    health.folder_checked(FOLDER_PROBLEM)
    assert health.problem(NOW) == FOLDER_PROBLEM
    health.tried(NOW, recorded=False)
    assert health.problem(NOW) == FOLDER_PROBLEM
    health.tried(NOW, recorded=True)
    assert health.problem(NOW) is None


def test_given_three_failures_when_they_grow_old_then_ready_again():
    health = RecordingHealth()
    for _ in range(3):
        health.tried(NOW, recorded=False)
    assert health.failing(NOW + FAILING_WITHIN)
    assert not health.failing(NOW + STALE)


# ------------------------------------------------------------------ what the desk shows
def test_the_desk_shows_recording_not_recording_and_why():
    assert desk_state(["attempt-1"], []) == {"state": "recording", "reason": None}
    assert desk_state([], [FailureReason.NOT_WRITABLE]) == {
        "state": "not_recording",
        "reason": FailureReason.NOT_WRITABLE.text,
    }
    # One leg of two lost: still recording, saying what is missing.
    assert desk_state(["attempt-1-agent"], [FailureReason.NOT_WRITABLE])["state"] == "recording"


# ------------------------------------------------------------------ the recorder, stood in for
class _Events:
    def close(self) -> None:
        pass

    async def wait_for(self, kinds, timeout):
        return None


class _Ari:
    """ARI whose snoops come up and whose recordings fail as told."""

    app = "pbx-engine"

    def __init__(self, record_error: AriError | None = None) -> None:
        self.record_error = record_error
        self.hung_up: list[str] = []
        self.bridges: set[str] = set()
        self.made: set[str] = set()
        self.stored_deleted: list[str] = []
        self.connected = asyncio.Event()
        self.connected.set()

    def subscribe(self, *ids):
        return _Events()

    async def snoop(self, channel_id, **options):
        return None

    async def record(self, channel_id, **options):
        if self.record_error is not None:
            raise self.record_error

    async def hangup(self, channel_id):
        self.hung_up.append(channel_id)
        return True

    async def create_bridge(self, *, bridge_type, bridge_id):
        self.bridges.add(bridge_id)
        self.made.add(bridge_id)

    async def record_bridge(self, bridge_id, **options):
        if self.record_error is not None:
            raise self.record_error

    async def stop_recording(self, name):
        return True

    async def get_live_recording(self, name):
        return None

    async def delete_stored_recording(self, name):
        self.stored_deleted.append(name)
        return True

    async def destroy_bridge(self, bridge_id):
        self.bridges.discard(bridge_id)
        return True

    async def get_application(self):
        return {}


class _Recordings:
    def __init__(self) -> None:
        self.failures: list[tuple] = []

    async def add_recording_failure(self, attempt_id, leg, reason, detail, at):
        self.failures.append((attempt_id, leg, reason, detail))


class _Storage:
    def __init__(self) -> None:
        self.recordings = _Recordings()

    async def write_problem(self, timeout):
        return None


NOT_WRITABLE = AriError(500, "POST", "/channels/rec-1/record", "Internal Server Error")


def _recorder(ari: _Ari, storage: _Storage, metrics: EngineMetrics) -> CallRecorder:
    return CallRecorder(ari, storage, metrics=metrics.recordings)  # type: ignore[arg-type]


def _failed_count(metrics: EngineMetrics, campaign: str, reason: str) -> float | None:
    return metrics.registry.get_sample_value(
        "pbx_engine_recordings_failed_total", {"campaign": campaign, "reason": reason}
    )


async def test_given_asterisk_cannot_write_when_a_call_is_recorded_then_everyone_is_told():
    ari, storage, metrics = _Ari(NOT_WRITABLE), _Storage(), EngineMetrics()
    recorder = _recorder(ari, storage, metrics)
    told = []
    recorder.on_change(lambda channel, shown: told.append((channel, shown)))
    policy = RecordingPolicy(RecordingMode.SEPARATE)

    names = await recorder.start("debtor-1", 7, policy, campaign="acme")

    assert names == [] and recorder.recording("debtor-1") == []
    assert [f[:3] for f in storage.recordings.failures] == [
        ("debtor-1", "debtor", "not_writable"),
        ("debtor-1", "agent", "not_writable"),
    ]
    assert _failed_count(metrics, "acme", "not_writable") == 2
    assert told == [("debtor-1", desk_state([], [FailureReason.NOT_WRITABLE]))]
    assert len(ari.hung_up) == 2  # both snoop channels
    assert recorder.health.problem(datetime.now(UTC)) is None  # one call: no pattern yet
    for call in range(2, 4):
        await recorder.start(f"debtor-{call}", call, RecordingPolicy(RecordingMode.MIXED))
    ready = await check_readiness(
        ari,  # type: ignore[arg-type]
        storage,  # type: ignore[arg-type]
        None,
        recording=recorder.health,
    )
    assert ready.problems["recording"] == "the last 3 recorded calls were not recorded"
    assert _failed_count(metrics, "(none)", "not_writable") == 2


async def test_given_the_debtor_gone_when_the_snoop_fails_then_no_failure_is_counted():
    ari = _Ari(ChannelGone(404, "POST", "/channels/x/record", "gone"))
    storage, metrics = _Storage(), EngineMetrics()
    recorder = _recorder(ari, storage, metrics)
    told = []
    recorder.on_change(lambda channel, shown: told.append(shown))
    assert await recorder.start("debtor-1", 7, RecordingPolicy(RecordingMode.MIXED)) == []
    assert storage.recordings.failures == [] and told == []
    assert _failed_count(metrics, "(none)", "not_writable") is None


def bridge_checked_file_deleted(ari: _Ari) -> bool:
    """Whatever the check found, its file (if any) was deleted after its bridge was made."""
    return bool(ari.stored_deleted) and set(ari.stored_deleted) <= ari.made


@pytest.mark.parametrize(
    ("error", "problem"),
    [
        (None, None),
        (NOT_WRITABLE, FOLDER_PROBLEM),
        (AriError(400, "POST", "/bridges/b/record", "Bad Request"), "Asterisk refused"),
    ],
)
async def test_the_folder_check_leaves_no_bridge_and_keeps_its_finding(error, problem):
    ari = _Ari(error)
    recorder = _recorder(ari, _Storage(), EngineMetrics())
    found = await recorder.check_folder()
    assert (found is None) if problem is None else problem in found
    assert recorder.health.folder_problem == found
    assert ari.bridges == set()
    assert bridge_checked_file_deleted(ari)


async def test_given_asterisk_silent_when_the_folder_is_checked_then_it_answers_within_its_bound():
    ari = _Ari()

    async def hangs(bridge_id, **options):
        await asyncio.Event().wait()  # Asterisk never answers

    ari.record_bridge = hangs  # type: ignore[method-assign]
    recorder = _recorder(ari, _Storage(), EngineMetrics())
    found = await asyncio.wait_for(recorder.check_folder(timeout=0.05), 1)
    assert found == "Asterisk did not answer the recording check"
    assert ari.bridges == set()


def test_the_failed_recordings_counter_is_exported_before_any_failure():
    assert "pbx_engine_recordings_failed_total" in EngineMetrics().series()


def test_a_failure_is_counted_under_its_campaign_and_reason():
    metrics = EngineMetrics()
    metrics.recordings.failed("acme", "timeout")
    metrics.recordings.failed(None, "timeout")
    assert _failed_count(metrics, "acme", "timeout") == 1
    assert _failed_count(metrics, "(none)", "timeout") == 1


class _LiveEvents(_Events):
    """A snoop's events: the ones queued, then the end of the stream."""

    def __init__(self, *events) -> None:
        self._events = list(events)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass

    def __aiter__(self):
        return self

    async def __anext__(self):
        if not self._events:
            raise StopAsyncIteration
        return self._events.pop(0)


class _LiveRecordings(_Recordings):
    def __init__(self) -> None:
        super().__init__()
        self.started: list[str] = []
        self.finished: list[str] = []

    async def add_recording(self, attempt_id, name, leg, *, started_at, delete_after):
        self.started.append(name)

    async def finish_recording(self, name, ended_at):
        self.finished.append(name)


async def test_given_a_recording_under_way_when_asterisk_reports_it_failed_then_everyone_is_told():
    failed = RecordingFailed(
        type="RecordingFailed",
        recording={"name": "attempt-9", "target_uri": "channel:rec-1", "cause": "disk full"},
    )
    ari, storage, metrics = _Ari(), _Storage(), EngineMetrics()
    storage.recordings = _LiveRecordings()
    ari.subscribe = lambda *ids: _LiveEvents(failed)  # type: ignore[method-assign]
    recorder = _recorder(ari, storage, metrics)
    told = []
    recorder.on_change(lambda channel, shown: told.append(shown))

    assert await recorder.start("debtor-9", 9, RecordingPolicy(RecordingMode.MIXED), "acme")

    async def followed() -> bool:
        return bool(storage.recordings.finished)

    await eventually(followed, timeout=2, interval=0.01, what="the recording to be followed")
    await recorder.close()
    assert storage.recordings.finished == ["attempt-9"]
    assert storage.recordings.failures == [("debtor-9", "mixed", "failed_mid_call", "disk full")]
    assert _failed_count(metrics, "acme", "failed_mid_call") == 1
    assert told == [
        {"state": "recording", "reason": None},
        {"state": "not_recording", "reason": FailureReason.FAILED_MID_CALL.text},
    ]
    assert recorder.recording("debtor-9") == []
