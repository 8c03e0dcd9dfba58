"""The detectors a campaign can choose, by name.

Two kinds: a dialplan detector is a context that runs AMD() and returns the call to Stasis with
`amd,STATUS,CAUSE` (see dialplans/engine.conf); the engine detector keeps the call in Stasis and
listens to it itself (`pbx_engine.amd.live`, deciding with `pbx_engine.amd.listener`, or with
the learned model of `pbx_engine.amd.learned`). All give
the call flow the same verdict: an app_amd status and cause.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class DetectorKind(StrEnum):
    DIALPLAN = "dialplan"
    ENGINE = "engine"


@dataclass(frozen=True)
class Detector:
    name: str
    kind: DetectorKind
    description: str
    context: str | None = None  # the dialplan context, for a dialplan detector
    learned: bool = False  # an engine detector deciding with the learned model


DETECTORS: dict[str, Detector] = {
    d.name: d
    for d in (
        Detector(
            "app_amd",
            DetectorKind.DIALPLAN,
            "Asterisk's app_amd with its stock settings",
            context="engine-amd",
        ),
        Detector(
            "app_amd-tuned",
            DetectorKind.DIALPLAN,
            "app_amd allowing people up to five words and 2.5 s of greeting",
            context="engine-amd-tuned",
        ),
        Detector(
            "engine",
            DetectorKind.ENGINE,
            "the engine listening to the call (snoop and external media): a short greeting "
            "then silence is a person, a greeting that runs on is a machine",
        ),
        Detector(
            "learned",
            DetectorKind.ENGINE,
            "the engine listening to the call, deciding with the learned model "
            "(pbx_engine/amd/models): the timing of speech, pauses and beeps so far",
            learned=True,
        ),
    )
}


# Where the dialer continues an answered machine's call to leave a message when a dialplan
# detector judged it (dialplans/engine.conf): waits for the greeting's end, then plays it.
MESSAGE_DROP_CONTEXT = "engine-message-drop"


def default_detector(amd_detector: str | None, amd_context: str) -> Detector:
    """The detector of calls whose campaign names none ([dialer] amd_detector); set empty,
    AMD() in the dialplan context `amd_context`."""
    if amd_detector is None:
        return Detector("dialplan", DetectorKind.DIALPLAN, "", amd_context)
    return DETECTORS[amd_detector]
