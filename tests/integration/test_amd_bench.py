"""`pbx-engine bench amd` on a two-file corpus: the harness dials through real sandboxes."""

import pytest

from pbx_engine.lab.amd.bench import run_amd_bench
from pbx_engine.lab.amd.corpus import build_corpus


@pytest.mark.parametrize("detector", ["app_amd", "engine", "learned"])
async def test_given_a_tiny_corpus_then_each_file_is_judged_through_the_pbx(tmp_path, detector):
    await build_corpus(tmp_path, per_label=1)  # "Hello?" in English, and a greeting
    [result] = await run_amd_bench(tmp_path, [detector], concurrency=2)
    statuses = {j.sample.label: j.status for j in result.judged}
    assert statuses == {"human": "HUMAN", "machine": "MACHINE"}
    assert all(0.5 < j.seconds < 6 for j in result.judged)
    assert result.as_json()["human_recall"] == 1.0
