"""Metrics: the engine's Prometheus series.

It owns the names and meaning of every series: those counted where things happen (calls
placed, answered, abandoned and finished; AMD verdicts and how long they took; dead air;
recordings that failed; ARI events' lag and websocket reconnects; database query times:
`series`), and those read when Prometheus scrapes (agents by state, campaigns' lines and dial
levels, predictive pacing's risk and abandon budget, the database pool: `floor`).
`pbx_engine.web.probes` serves them at `/metrics` on a port of its own.

The series live on a `CollectorRegistry` of the engine's own, never the process-wide default,
so several engines (and tests) in one process do not clash. Components are handed their part
(`metrics.calls`, `metrics.ari`, `metrics.database`, `metrics.recordings`) by the composition
root; none reaches for a global. `series`, all the dialer and the ARI client import, imports
nothing of the engine's.
"""

from pbx_engine.metrics.series import (
    AriMetrics,
    CallMetrics,
    DatabaseMetrics,
    EngineMetrics,
    RecordingMetrics,
)

__all__ = ["AriMetrics", "CallMetrics", "DatabaseMetrics", "EngineMetrics", "RecordingMetrics"]
