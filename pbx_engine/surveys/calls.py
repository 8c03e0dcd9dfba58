"""Runs the keypad survey on a debtor whose agent has ended the call: each survey a task of
its own, owned here and cancelled (the debtor hung up on) when the engine stops."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import structlog

from ari_apps.survey_call import Ask, CallSurvey, Finish, Keep
from pbx_engine.ari import AriClient, AriError, AriUnavailable, ChannelGone, Subscription
from pbx_engine.storage import Storage
from pbx_engine.tasks import OwnedTasks

log = structlog.get_logger(__name__)

ANSWER_WAIT = 6.0  # seconds for a key after a question has been asked
THANKS_LONGEST = 30.0  # seconds; a thank-you still playing then is cut


class CallSurveys:
    def __init__(self, ari: AriClient, storage: Storage, *, wait: float = ANSWER_WAIT) -> None:
        self._ari = ari
        self._storage = storage
        self._wait = wait
        self._tasks = OwnedTasks()

    def start(self, channel_id: str, survey: CallSurvey, campaign: str | None) -> None:
        """Put the survey to the debtor on `channel_id` (in Stasis, out of any bridge)."""
        self._tasks.spawn(self._run(channel_id, survey, campaign), name=f"survey-{channel_id}")

    async def close(self) -> None:
        await self._tasks.close()

    async def _run(self, channel_id: str, survey: CallSurvey, campaign: str | None) -> None:
        structlog.contextvars.bind_contextvars(channel_id=channel_id, campaign=campaign)
        log.info("survey.started", questions=len(survey.questions))
        try:
            with self._ari.subscribe(channel_id) as events:
                await self._carry_out(channel_id, survey, events)
        except ChannelGone:
            survey.hung_up()
            log.info("survey.debtor_left", answered=len(survey.answers))
        except (AriError, AriUnavailable) as error:
            log.warning("survey.failed", error=str(error), answered=len(survey.answers))
        finally:
            # However it ended (cancelled at shutdown too), the debtor is not left on the line.
            with contextlib.suppress(AriError, AriUnavailable):
                await self._ari.hangup(channel_id)

    async def _carry_out(self, channel_id: str, survey: CallSurvey, events: Subscription) -> None:
        actions = survey.start()
        while actions:
            upcoming = []
            for action in actions:
                match action:
                    case Keep(question=question, score=score):
                        await self._keep(channel_id, question, score)
                    case Ask(media=media):
                        digit = await self._ari.ask_key(
                            events, channel_id, list(media), wait=self._wait
                        )
                        upcoming = survey.silence() if digit is None else survey.key(digit)
                    case Finish(media=media):
                        if media:
                            with contextlib.suppress(TimeoutError):
                                await self._ari.play_to_end(
                                    events, channel_id, list(media), timeout=THANKS_LONGEST
                                )
                        log.info("survey.finished", answers=survey.answers)
                        return
            actions = upcoming

    async def _keep(self, channel_id: str, question: str, score: int) -> None:
        try:
            kept = await self._storage.surveys.record_call_answer(
                channel_id, question, score, datetime.now(UTC)
            )
        except Exception as error:  # the survey goes on: one lost answer, said so
            log.error("survey.answer_not_kept", question=question, score=score, error=str(error))
            return
        log.info("survey.answered", question=question, score=score, kept=kept)
