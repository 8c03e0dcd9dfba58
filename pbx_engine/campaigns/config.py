"""A campaign file (TOML), one campaign each, validated into a frozen model.

name = "acme-early"
dial_mode = "progressive"          # preview | progressive | predictive
compliance = "us"                  # us | uk | fr | plain; adjust with [compliance_overrides]
agents = ["anna", "piotr"]
caller_id = "+12025550999"         # presented when no pool number is usable
machine_message = "/var/lib/pbx-engine/sounds/acme-please-call"   # else machines are hung up on
fallback_timezone = "America/New_York"
order = ["oldest_debt", "largest_amount"]
[caller_id_pools]                  # numbers from the number-pools file (see pbx_engine.callerid)
pools = ["us-geo"]
mobile = "us-mobile"
fallback = "us-main"
rotation = "least_recently_used"   # or round_robin
not_same_within_days = 7
[select]
segments = ["early"]
days_past_due = [0, 90]
amount = [50, 100000]
[retry]
no_answer = { after_minutes = 120, max_attempts = 5 }
busy = { after_minutes = 15, max_attempts = 5 }
machine = { after_minutes = 240, max_attempts = 3 }
screened = { after_minutes = 1440, max_attempts = 3 }
[screening]                        # phones' call-screening assistants (needs amd_detector engine
identity_line = "/var/lib/pbx-engine/sounds/acme-identity"   # or learned): who calls, call back
wait_for_person_seconds = 20       # for the person after the line; 0: hang up once screened
[pacing]                           # predictive mode's policy (see pbx_engine.pacing.policies)
policy = "predictive"              # predictive | adaptive | adaptive-hard-limit | ratio | ...
dial_ratio = 1.5                   # the ratio policy's dial level
[recording]
mode = "mixed"                     # none | mixed (one file) | separate (each leg its own file)
retention_days = 400               # then the files are deleted
[survey]                           # heard when the agent ends the call (POST /agents/me/call/end)
intro = "/var/lib/pbx-engine/sounds/acme-survey-intro"
thanks = "/var/lib/pbx-engine/sounds/acme-survey-thanks"
questions = [
  { name = "satisfied", prompt = "/var/lib/pbx-engine/sounds/acme-q-satisfied" },  # keys 1-5
  { name = "resolved", prompt = "/var/lib/pbx-engine/sounds/acme-q-resolved", keys = "12" },
]
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from ari_apps.screening_call import ScreeningPolicy
from ari_apps.survey_call import CallSurvey, Question
from pbx_engine.amd.detectors import DETECTORS, Detector, DetectorKind
from pbx_engine.ari.media import as_media
from pbx_engine.callerid.choice import CallerIdRule
from pbx_engine.compliance import PROFILES, ComplianceProfile
from pbx_engine.config import ConfigError, _describe, read_text, read_toml
from pbx_engine.pacing.floor import PacingPolicy
from pbx_engine.pacing.policies import POLICIES, make_policy
from pbx_engine.recording.policy import RecordingMode, RecordingPolicy
from pbx_engine.text import printable_throughout


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*")
    @classmethod
    def _printable(cls, value: object) -> object:
        # Names, numbers and sounds here reach Asterisk: no line breaks or other controls.
        return printable_throughout(value)


class RetryRule(_Section):
    after_minutes: float = Field(gt=0)
    max_attempts: int = Field(ge=0)

    @property
    def after(self) -> timedelta:
        return timedelta(minutes=self.after_minutes)


RetryOutcome = Literal[
    "no_answer",
    "busy",
    "machine",
    "screened",
    "silence",
    "fax",
    "failed",
    "rejected",
    "abandoned",
]

DEFAULT_RETRY: dict[str, RetryRule] = {
    "no_answer": RetryRule(after_minutes=120, max_attempts=5),
    "busy": RetryRule(after_minutes=15, max_attempts=5),
    "machine": RetryRule(after_minutes=240, max_attempts=3),
    # The phone screens unknown numbers: the same number tomorrow, not within the hour.
    "screened": RetryRule(after_minutes=1440, max_attempts=3),
    "silence": RetryRule(after_minutes=120, max_attempts=3),
    "fax": RetryRule(after_minutes=60, max_attempts=0),  # a fax line: the next number
    "failed": RetryRule(after_minutes=60, max_attempts=2),
    "rejected": RetryRule(after_minutes=240, max_attempts=2),
    "abandoned": RetryRule(after_minutes=60, max_attempts=2),
}


class Selection(_Section):
    segments: list[str] | None = None
    days_past_due: tuple[int, int] | None = None
    amount: tuple[Decimal, Decimal] | None = None


class ComplianceOverrides(_Section):
    max_attempts: int | None = Field(None, ge=0)
    attempt_period_days: float | None = Field(None, gt=0)
    after_conversation_days: float | None = Field(None, ge=0)
    abandon_target: float | None = Field(None, gt=0, le=1)
    amd_false_positive_share: float | None = Field(None, ge=0, le=1)
    holidays: str | None = Field(
        None, description="country whose public holidays close the windows; '' for none"
    )

    @field_validator("holidays")
    @classmethod
    def _known_country(cls, value: str | None) -> str | None:
        if value:
            from pbx_engine.compliance.policy import public_holiday

            try:
                public_holiday(value)
            except NotImplementedError:
                raise ValueError(f"no public holidays known for country {value!r}") from None
        return value


class CallerIdPools(_Section):
    """Which pools (of the number-pools file) the campaign presents, and how it rotates."""

    pools: list[str] = Field(min_length=1, description="geographic choice among these")
    mobile: str | None = Field(None, description="pool for debtors on mobiles")
    fallback: str | None = Field(None, description="when no number matches area or region")
    rotation: Literal["least_recently_used", "round_robin"] = "least_recently_used"
    not_same_within_days: float = Field(
        0, ge=0, description="never the same number twice to one debtor within this (0: off)"
    )

    def rule(self) -> CallerIdRule:
        return CallerIdRule(
            pools=tuple(self.pools),
            mobile=self.mobile,
            fallback=self.fallback,
            rotation=self.rotation,
            not_same_within=(
                timedelta(days=self.not_same_within_days) if self.not_same_within_days else None
            ),
        )


class RecordingSection(_Section):
    mode: Literal["none", "mixed", "separate"] = Field(
        "none", description="mixed: the whole call in one file; separate: each leg its own"
    )
    retention_days: int = Field(365, ge=1, description="recordings are deleted after this")
    required: bool = Field(
        True,
        description="while Asterisk cannot record (its folder unwritable, or every recent "
        "recorded call failed), this campaign places no call: a call announced as recorded "
        "must be; false: it dials on and the calls go unrecorded (counted and shown)",
    )

    def policy(self) -> RecordingPolicy:
        return RecordingPolicy(RecordingMode(self.mode), self.retention_days, self.required)


class ScreeningSection(_Section):
    identity_line: str = Field(
        description="a sound (Asterisk file name, no extension) said to a greeting that ends "
        "without a beep: who calls and how to call back (the limited-content message). An "
        "assistant that answers it back marks the call screened; a voicemail box keeps it"
    )
    wait_for_person_seconds: float = Field(
        20,
        ge=0,
        le=120,
        description="how long after the line a screened call waits for the person to come to "
        "the phone (his greeting puts him through to an agent); 0: hang up once screened",
    )
    reply_window_seconds: float = Field(
        8, gt=0, le=30, description="silence after the line this long means a voicemail box"
    )

    def policy(self) -> ScreeningPolicy:
        return ScreeningPolicy(
            self.identity_line, self.wait_for_person_seconds, self.reply_window_seconds
        )


class PacingSection(_Section):
    """Predictive mode's pacing policy and its own settings. The abandon target and the AMD
    false-positive share are the regulator's (the compliance profile), the line cap is the
    campaign's in every mode: `CampaignConfig.pacing_policy()` puts them together."""

    policy: str = Field("predictive", description="the pacing policy of predictive mode")
    dial_ratio: float = Field(1.5, ge=1, le=5, description="the ratio policy's dial level")

    @field_validator("policy")
    @classmethod
    def _known_policy(cls, value: str) -> str:
        return _one_of(value, list(POLICIES), "policy")

    def build(self, profile: ComplianceProfile, max_lines: int) -> PacingPolicy:
        return make_policy(
            self.policy,
            abandon_target=profile.abandon_target,
            dial_level=self.dial_ratio,
            max_lines=max_lines,
            amd_false_positive_share=profile.amd_false_positive_share,
        )


class StrategySection(_Section):
    """The campaign's contact strategy (see pbx_engine.strategies), and a challenger to try
    against it on a share of the cases."""

    file: Path = Field(description="the strategy file (the champion)")
    challenger: Path | None = Field(None, description="a second strategy file, tried on a share")
    challenger_share: float = Field(0.5, gt=0, lt=1, description="of the cases, at random")
    split: str | None = Field(
        None,
        description="the split's name (default: the campaign's); a new name reshuffles the cases",
    )

    @model_validator(mode="after")
    def _files_load(self) -> StrategySection:
        from pbx_engine.config import ConfigError
        from pbx_engine.strategies.files import load_strategy

        for path in (self.file, self.challenger):
            if path is not None:
                try:
                    load_strategy(path)
                except ConfigError as error:
                    raise ValueError(str(error)) from None
        return self


class SurveyQuestion(_Section):
    name: str = Field(pattern=r"^[a-z0-9_]+$", description="how reports name the question")
    prompt: str = Field(
        min_length=1,
        description="a sound (Asterisk file name, no extension, or ARI media such as "
        "'sound:...') asking the question and saying which keys answer it",
    )
    keys: str = Field(
        "12345",
        pattern=r"^[1-5]{1,5}$",
        description="the keys that answer it, each its score (1 to 5): '12345', or '12' for "
        "yes (1) and no (2)",
    )


class SurveySection(_Section):
    """The survey a debtor hears when his agent ends the call on the desk (not when he hangs
    up himself): two or three keypad questions, answers kept per agent and campaign."""

    questions: list[SurveyQuestion] = Field(min_length=1, max_length=5)
    intro: str | None = Field(None, description="a sound before the first question")
    thanks: str | None = Field(None, description="a sound after the last answer")

    @field_validator("questions")
    @classmethod
    def _names_once(cls, questions: list[SurveyQuestion]) -> list[SurveyQuestion]:
        names = [q.name for q in questions]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"question names must differ: {', '.join(twice)} given twice")
        return questions

    def call_survey(self) -> CallSurvey:
        """A fresh survey for one call."""
        return CallSurvey(
            tuple(Question(q.name, as_media(q.prompt), q.keys) for q in self.questions),
            intro=(as_media(self.intro),) if self.intro else (),
            thanks=(as_media(self.thanks),) if self.thanks else (),
        )


class CampaignConfig(_Section):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    dial_mode: Literal["preview", "progressive", "predictive"] = "progressive"
    compliance: str = "us"
    compliance_overrides: ComplianceOverrides | None = None
    agents: list[str] = Field(default_factory=list)
    caller_id: str | None = None
    caller_id_pools: CallerIdPools | None = None
    fallback_timezone: str = "UTC"
    order: list[Literal["oldest_debt", "largest_amount", "fewest_attempts"]] = ["oldest_debt"]
    select: Selection = Selection()
    retry: dict[RetryOutcome, RetryRule] = Field(default_factory=dict)
    pacing: PacingSection = Field(
        default_factory=lambda: PacingSection(), description="predictive mode's pacing"
    )
    language: str = Field("en", description="of the debtor menu for this campaign's debtors")
    amd_detector: str | None = Field(
        None, description="answering-machine detector (see pbx_engine.amd); none: the engine's"
    )
    machine_message: str | None = Field(
        None,
        description="a sound (Asterisk file name, no extension) to leave on answering machines "
        "after the greeting; none: hang up on machines",
    )
    preview_skip_hours: float = Field(
        24, ge=0, description="preview: a case an agent skips is not offered again this long"
    )
    max_lines: int = Field(30, ge=1, description="calls in flight for this campaign at most")
    script: str = Field(
        "",
        description="what agents say on this campaign's calls, shown on the desktop with the "
        "case filled in: {debtor_name}, {reference}, {creditor}, {original_creditor}, "
        "{amount_owed}, {amount_paid}, {balance}, {currency}, {due_date}, {agent}",
    )
    recording: RecordingSection = Field(
        default_factory=lambda: RecordingSection(), description="what is recorded of each call"
    )
    strategy: StrategySection | None = Field(
        None, description="messages sent as the case's days past due and last outcome say"
    )
    survey: SurveySection | None = Field(
        None, description="keypad questions the debtor hears when his agent ends the call"
    )
    screening: ScreeningSection | None = Field(
        None,
        description="call-screening assistants (phones answering unknown numbers): the line "
        "said to them, and the wait for the person; needs the engine's listener (amd_detector "
        "engine or learned)",
    )

    @field_validator("compliance")
    @classmethod
    def _known_profile(cls, value: str) -> str:
        return _one_of(value, sorted(PROFILES), "profile")

    # The detector named by amd_detector, looked up once as the file is read.
    _detector: Detector | None = PrivateAttr(None)

    @field_validator("amd_detector")
    @classmethod
    def _known_detector(cls, value: str | None) -> str | None:
        return None if value is None else _one_of(value, list(DETECTORS), "detector")

    def model_post_init(self, context: Any) -> None:
        self._detector = None if self.amd_detector is None else DETECTORS[self.amd_detector]

    @model_validator(mode="after")
    def _screening_heard(self) -> CampaignConfig:
        named = DETECTORS.get(self.amd_detector) if self.amd_detector else None
        if self.screening and named and named.kind is not DetectorKind.ENGINE:
            # The dialplan's detectors leave the machine message from the dialplan: nothing
            # would hear an assistant's reply.
            raise ValueError(
                f"[screening] needs the engine's listener: amd_detector {self.amd_detector!r} "
                "runs in the dialplan (use 'engine' or 'learned')"
            )
        return self

    @property
    def detector(self) -> Detector | None:
        """The campaign's answering-machine detector; None: the dialer's."""
        return self._detector

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        from pbx_engine.routing.prompts import PROMPTS

        return _one_of(value, list(PROMPTS), "menu language")

    @model_validator(mode="before")
    @classmethod
    def _pacing_keys_of_old(cls, data: Any) -> Any:
        # Files written before [pacing] gave `pacing = "NAME"` and a top-level `dial_ratio`:
        # the same settings, read into the section.
        if not isinstance(data, dict):
            return data
        pacing = data.get("pacing")
        if not isinstance(pacing, str) and "dial_ratio" not in data:
            return data
        section: dict[str, Any]
        if isinstance(pacing, str):
            section = {"policy": pacing}
        elif isinstance(pacing, PacingSection):
            section = pacing.model_dump(exclude_unset=True)
        elif isinstance(pacing, dict):
            section = dict(pacing)
        elif pacing is None:
            section = {}
        else:
            return data  # neither form: refused by the section's own validation
        if "dial_ratio" in data:
            if "dial_ratio" in section:
                raise ValueError("dial_ratio is given twice: keep the one in [pacing]")
            section["dial_ratio"] = data["dial_ratio"]
        rest = {key: value for key, value in data.items() if key != "dial_ratio"}
        return {**rest, "pacing": section}

    @field_validator("fallback_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    def retry_rule(self, outcome: str) -> RetryRule | None:
        return self.retry.get(outcome) or DEFAULT_RETRY.get(outcome)  # type: ignore[call-overload]

    def pacing_policy(self) -> PacingPolicy:
        """A fresh pacing policy for predictive mode, from every setting it takes."""
        return self.pacing.build(self.compliance_profile(), self.max_lines)

    def compliance_profile(self) -> ComplianceProfile:
        profile = PROFILES[self.compliance]
        o = self.compliance_overrides
        if o is None:
            return profile
        changes: dict[str, object] = {}
        if o.max_attempts is not None:
            changes["max_attempts"] = o.max_attempts
        if o.attempt_period_days is not None:
            changes["attempt_period"] = timedelta(days=o.attempt_period_days)
        if o.after_conversation_days is not None:
            changes["after_conversation"] = timedelta(days=o.after_conversation_days)
        if o.abandon_target is not None:
            changes["abandon_target"] = o.abandon_target
        if o.amd_false_positive_share is not None:
            changes["amd_false_positive_share"] = o.amd_false_positive_share
        if o.holidays is not None:
            changes["holidays"] = o.holidays or None
        return profile.adjusted(**changes)


def _one_of(value: str, known: list[str], what: str) -> str:
    if value not in known:
        raise ValueError(f"unknown {what} {value!r} (known: {', '.join(known)})")
    return value


def load_campaign(path: str | Path) -> CampaignConfig:
    text = read_text(path)
    raw = read_toml(path, text)
    try:
        return CampaignConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_describe(error, str(path), text)) from None
