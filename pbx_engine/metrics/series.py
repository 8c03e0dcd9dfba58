"""The series counted as things happen, each behind a method named for the event.

Call sites say what happened (`calls.answered(campaign)`), never which Prometheus type counts
it, so a series can change shape here without touching the dialer or the ARI client.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

# Calls of no campaign (supervisors' test calls). A campaign's name cannot hold parentheses,
# so no campaign is ever confused with them.
NO_CAMPAIGN = "(none)"

# Seconds. AMD takes from under a second (a "Yes?") to its 5 s timeout; dead air should stay
# well under the 2 s a person waits before the call counts as abandoned; an event's lag and a
# query's time are milliseconds when all is well.
AMD_BUCKETS = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 8.0, 10.0)
DEAD_AIR_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)
EVENT_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
QUERY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

# The sample names each kind of family exports (a counter `x` is scraped as `x_total`).
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
}


def campaign_label(name: str | None) -> str:
    return name or NO_CAMPAIGN


class CallMetrics:
    """Outbound calls, from the dialer and the agent connector."""

    def __init__(self, registry: CollectorRegistry) -> None:
        by_campaign = ["campaign"]
        self._placed = Counter(
            "pbx_engine_calls_placed_total",
            "Outbound calls placed",
            by_campaign,
            registry=registry,
        )
        self._answered = Counter(
            "pbx_engine_calls_answered_total",
            "Outbound calls answered (by anyone or anything)",
            by_campaign,
            registry=registry,
        )
        self._abandoned = Counter(
            "pbx_engine_calls_abandoned_total",
            "Live people who found no agent within the abandon wait",
            by_campaign,
            registry=registry,
        )
        self._finished = Counter(
            "pbx_engine_calls_finished_total",
            "Outbound calls ended, by the outcome stored on their attempt",
            ["campaign", "outcome"],
            registry=registry,
        )
        self._verdicts = Counter(
            "pbx_engine_amd_verdicts_total",
            "Answering-machine detection verdicts (human, machine, silence, fax)",
            ["verdict", "detector"],
            registry=registry,
        )
        self._decision = Histogram(
            "pbx_engine_amd_decision_seconds",
            "From the answer to the AMD verdict",
            ["detector"],
            buckets=AMD_BUCKETS,
            registry=registry,
        )
        self._dead_air = Histogram(
            "pbx_engine_dead_air_seconds",
            "Silence a person hears between the AMD verdict and his agent (the bridge)",
            by_campaign,
            buckets=DEAD_AIR_BUCKETS,
            registry=registry,
        )
        self._bridging = Histogram(
            "pbx_engine_bridge_seconds",
            "Dead air of people whose agent was free at the verdict: the engine's own part",
            by_campaign,
            buckets=EVENT_LAG_BUCKETS,
            registry=registry,
        )

    def placed(self, campaign: str | None) -> None:
        self._placed.labels(campaign_label(campaign)).inc()

    def answered(self, campaign: str | None) -> None:
        self._answered.labels(campaign_label(campaign)).inc()

    def abandoned(self, campaign: str | None) -> None:
        self._abandoned.labels(campaign_label(campaign)).inc()

    def finished(self, campaign: str | None, outcome: str) -> None:
        self._finished.labels(campaign_label(campaign), outcome).inc()

    def amd_verdict(self, verdict: str, detector: str, seconds: float | None) -> None:
        """`seconds` from the answer to the verdict; None when the answer was not seen."""
        self._verdicts.labels(verdict, detector).inc()
        if seconds is not None:
            self._decision.labels(detector).observe(max(seconds, 0.0))

    def dead_air(self, campaign: str | None, seconds: float, *, agent_was_free: bool) -> None:
        """`agent_was_free`: an agent was ready (or held for the call) at the verdict, so the
        seconds are the engine's alone, not a wait for someone to finish a call."""
        self._dead_air.labels(campaign_label(campaign)).observe(max(seconds, 0.0))
        if agent_was_free:
            self._bridging.labels(campaign_label(campaign)).observe(max(seconds, 0.0))


class AriMetrics:
    """The ARI events websocket, from its reader task."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._lag = Histogram(
            "pbx_engine_ari_event_lag_seconds",
            "From an ARI event's timestamp (Asterisk's clock) to its routing by the engine",
            buckets=EVENT_LAG_BUCKETS,
            registry=registry,
        )
        self._reconnects = Counter(
            "pbx_engine_ari_reconnects_total",
            "Times the ARI events websocket was lost after being connected",
            registry=registry,
        )

    def event_handled(self, lag_seconds: float) -> None:
        # A PBX whose clock runs ahead of ours gives negative lags: counted as none.
        self._lag.observe(max(lag_seconds, 0.0))

    def reconnected(self) -> None:
        self._reconnects.inc()


class RecordingMetrics:
    """Call recordings that failed, from the recorder."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._failed = Counter(
            "pbx_engine_recordings_failed_total",
            "Recordings that did not start or failed during the call (the call went on)",
            ["campaign", "reason"],
            registry=registry,
        )

    def failed(self, campaign: str | None, reason: str) -> None:
        self._failed.labels(campaign_label(campaign), reason).inc()


class DatabaseMetrics:
    """PostgreSQL queries, from the pool's connections."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._queries = Histogram(
            "pbx_engine_db_query_seconds",
            "Time of each query the engine runs, as asyncpg measures it",
            buckets=QUERY_BUCKETS,
            registry=registry,
        )

    def query_finished(self, seconds: float) -> None:
        self._queries.observe(seconds)


class EngineMetrics:
    """Every series of one engine, on a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.calls = CallMetrics(self.registry)
        self.ari = AriMetrics(self.registry)
        self.database = DatabaseMetrics(self.registry)
        self.recordings = RecordingMetrics(self.registry)

    def watch(self, collector: Collector) -> None:
        """Add figures read at scrape time (see `pbx_engine.metrics.floor`)."""
        self.registry.register(collector)

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """The scrape's body and content type, in the format `accept` asks for (the
        Prometheus text format by default, OpenMetrics when asked)."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type

    def series(self) -> frozenset[str]:
        """Every sample name this registry can export, whether or not it has a value yet."""
        names: set[str] = set()
        for family in self.registry.collect():
            names.update(family.name + suffix for suffix in _SUFFIXES[family.type])
        return frozenset(names)
