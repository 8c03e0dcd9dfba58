"""Measuring pacing: the discrete-event simulator that runs any policy of `pbx_engine.pacing` on
a scenario file much faster than real time, the clairvoyant bound the policies are measured
against, the benchmark over scenarios and seeds, and its timeline chart."""
