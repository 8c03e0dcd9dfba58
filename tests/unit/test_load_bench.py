"""The load benchmark's arithmetic: quantiles from histogram buckets, where a ramp stops, and
what a profile says."""

import pytest

from pbx_engine.lab.load import bucket_delta, limit_of, quantile, top_functions

INF = float("inf")


def test_a_quantile_is_interpolated_inside_its_bucket():
    buckets = [(0.001, 0.0), (0.005, 50.0), (0.01, 90.0), (0.05, 100.0), (INF, 100.0)]
    assert quantile(buckets, 0.5) == pytest.approx(0.005)
    assert quantile(buckets, 0.25) == pytest.approx(0.003)  # halfway through 1-5 ms
    assert quantile(buckets, 0.99) == pytest.approx(0.046)


def test_a_quantile_past_the_last_finite_bucket_is_that_bucket_s_bound():
    assert quantile([(0.5, 1.0), (5.0, 2.0), (INF, 10.0)], 0.99) == 5.0


def test_no_samples_no_quantile():
    assert quantile([], 0.5) is None
    assert quantile([(0.1, 0.0), (INF, 0.0)], 0.5) is None


def test_a_step_s_buckets_are_the_counts_since_its_start():
    before = [(0.01, 5.0), (INF, 6.0)]
    after = [(0.01, 15.0), (INF, 20.0)]
    assert bucket_delta(after, before) == [(0.01, 10.0), (INF, 14.0)]


IDLE = {"engine": 0.2, "asterisk (engine)": 0.3, "postgresql": 0.05, "sipp": 0.1}


def test_a_step_that_keeps_its_rate_and_lag_goes_on():
    assert limit_of(10, 9.8, 0.02, IDLE) is None


def test_a_missed_rate_stops_the_ramp_and_names_the_busiest_part():
    why = limit_of(20, 15.0, 0.02, {**IDLE, "engine": 0.85})
    assert why is not None and "missed" in why and "engine busiest" in why


def test_event_lag_over_half_a_second_stops_the_ramp():
    why = limit_of(10, 10.0, 0.8, {**IDLE, "asterisk (engine)": 1.5})
    assert why is not None and "800 ms" in why and "asterisk (engine) busiest" in why


def test_the_engine_s_single_core_is_its_ceiling():
    assert limit_of(10, 10.0, 0.02, {**IDLE, "engine": 0.95}) == (
        "the engine's event loop uses a whole core"
    )


def test_a_profile_ranks_functions_on_top_of_the_stack_and_inclusive():
    collapsed = "\n".join(
        [
            "main (a.py:1);loop (asyncio:5);handle (pbx_engine/x.py:9) 30",
            "main (a.py:1);loop (asyncio:5);dumps (json:2) 50",
            "main (a.py:1);loop (asyncio:5);handle (pbx_engine/x.py:9);dumps (json:2) 20",
            "garbage line",
        ]
    )
    top = top_functions(collapsed, count=2)
    assert top[0] == ("dumps (json:2)", 0.7, 0.7)
    assert top[1] == ("handle (pbx_engine/x.py:9)", 0.5, 0.3)
    [engine] = top_functions(collapsed, "pbx_engine", inclusive_first=True)
    assert engine == ("handle (pbx_engine/x.py:9)", 0.5, 0.3)
