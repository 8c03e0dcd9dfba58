"""Measuring answering-machine detection: a labelled corpus of synthetic openings (people and
voicemail greetings, several languages, voices, speeds and noise), the benchmark that plays it
into real calls through the PBX, and the offline evaluator that runs the engine's listener on
the files without a call."""
