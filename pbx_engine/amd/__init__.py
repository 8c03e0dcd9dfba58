"""Answering-machine detection: the detectors a campaign can choose, a labelled corpus of
synthetic openings (people and voicemail greetings, several languages, voices, speeds and
noise), and the benchmark that plays the corpus into real calls through the PBX."""
