"""The detectors a campaign can choose: each is a dialplan context that runs AMD() and returns
the call to Stasis with `amd,STATUS,CAUSE` (see dialplans/engine.conf)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Detector:
    name: str
    context: str
    description: str


DETECTORS: dict[str, Detector] = {
    d.name: d
    for d in (
        Detector("app_amd", "engine-amd", "Asterisk's app_amd with its stock settings"),
        Detector(
            "app_amd-tuned",
            "engine-amd-tuned",
            "app_amd allowing people up to five words and 2.5 s of greeting",
        ),
    )
}
