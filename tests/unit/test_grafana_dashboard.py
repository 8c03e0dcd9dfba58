"""The Grafana dashboard shipped in docker/grafana: a dashboard Grafana can import (uid, title,
schema version, panels with a data source and queries), whose every PromQL expression names
only series the engine's registry exports, so a renamed series cannot leave a panel empty."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from pbx_engine.metrics import EngineMetrics
from pbx_engine.metrics.floor import watch_engine

DASHBOARD = Path(__file__).parents[2] / "docker" / "grafana" / "pbx-engine.json"

# PromQL's own words: functions, aggregations and keywords (none is a series).
PROMQL_WORDS = frozenset(
    """
    abs absent absent_over_time avg avg_over_time bool bottomk ceil changes clamp clamp_max
    clamp_min count count_over_time count_values delta deriv exp floor group
    histogram_quantile holt_winters idelta increase irate label_join label_replace last_over_time
    ln log10 log2 max max_over_time min min_over_time offset predict_linear quantile
    quantile_over_time rate resets round scalar sgn sort sort_desc sqrt stddev stddev_over_time
    stdvar sum sum_over_time time timestamp topk vector and or unless
    """.split()
)
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")


def series_named(expr: str) -> set[str]:
    """The series a PromQL expression reads: what is left once strings, label matchers, range
    selectors, groupings, numbers and PromQL's own words are taken out."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', " ", expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = _GROUPING.sub(" ", text)
    text = re.sub(r"\b\d+(?:\.\d+)?(?:e[+-]?\d+)?\b", " ", text)
    return {word for word in re.findall(r"[A-Za-z_:][\w:]*", text) if word not in PROMQL_WORDS}


def exported_series() -> frozenset[str]:
    """Every series of a registry wired as build_engine wires it."""
    metrics = EngineMetrics()
    connected = asyncio.Event()
    watch_engine(
        metrics,
        agents=list,
        campaigns=list,
        ari_connected=connected.is_set,
        ami_logged_in=lambda: True,
        pool=SimpleNamespace(get_size=int, get_idle_size=int, get_max_size=int),
    )
    return metrics.series()


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def _expressions(dashboard: dict) -> list[tuple[str, str]]:
    found = [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        for target in panel["targets"]
    ]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            query = query["query"] if isinstance(query, dict) else query
            metric = re.fullmatch(r"label_values\((\w+),\s*\w+\)", query)
            assert metric, f"variable {variable['name']}: {query!r}"
            found.append((f"${variable['name']}", metric.group(1)))
    return found


def test_the_dashboard_has_what_grafana_needs_to_import_it(dashboard):
    assert dashboard["uid"] == "pbx-engine"
    assert dashboard["title"]
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["schemaVersion"] >= 36
    names = [variable["name"] for variable in dashboard["templating"]["list"]]
    assert "datasource" in names
    assert dashboard["panels"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "two panels share an id"
    for panel in dashboard["panels"]:
        assert panel["title"] and panel["type"] in {"timeseries", "stat", "gauge", "bargauge"}
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert {"x", "y", "w", "h"} <= panel["gridPos"].keys()
        assert panel["targets"], f"panel {panel['title']!r} has no query"
        refs = [target["refId"] for target in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]


def test_every_expression_reads_only_series_the_engine_exports(dashboard):
    exported = exported_series()
    used: set[str] = set()
    for where, expr in _expressions(dashboard):
        named = series_named(expr)
        assert named, f"{where}: {expr!r} reads no series"
        assert named <= exported, f"{where}: not exported: {sorted(named - exported)}"
        used |= named
    # Every kind of figure the engine exports has a panel.
    for prefix in (
        "pbx_engine_calls_",
        "pbx_engine_amd_",
        "pbx_engine_dead_air_",
        "pbx_engine_agents",
        "pbx_engine_campaign_dial_level",
        "pbx_engine_pacing_",
        "pbx_engine_ari_event_lag_",
        "pbx_engine_ari_reconnects_",
        "pbx_engine_db_pool_",
        "pbx_engine_db_query_",
    ):
        assert any(name.startswith(prefix) for name in used), f"no panel reads {prefix}*"


def test_the_expression_reader_finds_series_and_ignores_promql_words():
    expr = (
        "histogram_quantile(0.99, sum by (le) "
        '(rate(pbx_engine_dead_air_seconds_bucket{campaign=~"$c"}[$__rate_interval]))) '
        "/ clamp_min(sum(increase(x_total[1h])), 1) * 60"
    )
    assert series_named(expr) == {"pbx_engine_dead_air_seconds_bucket", "x_total"}
    assert series_named('sum(up{job="a"}) without (instance)') == {"up"}
