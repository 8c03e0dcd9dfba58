"""Answering-machine detection: the detectors a campaign can choose, the engine's listener and
beep listener (pure), and the live side on ARI snoop and external media. The corpus, the
benchmark through real calls and the offline evaluator are the lab's (`pbx_engine/lab/amd/`)."""
