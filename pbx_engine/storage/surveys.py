"""Answers to the keypad survey after a call (`ari_apps.survey_call`); the SMS and e-mail
surveys' answers are kept with their replies (`storage.messages`), in the same table."""

from __future__ import annotations

from datetime import datetime

import asyncpg


class SurveyStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def record_call_answer(
        self, channel_id: str, question: str, score: int, at: datetime
    ) -> bool:
        """One question's answer, credited to the agent, campaign and case of the call it
        followed. False when the call is not on record, or the question was answered already
        (a key read twice is kept once)."""
        status = await self.pool.execute(
            """INSERT INTO survey_answers (attempt_id, template, case_id, agent_id, campaign_id,
                                           score, answered_at)
               SELECT a.id, 'call:' || $2, a.case_id, a.agent_id, a.campaign_id, $3, $4
               FROM call_attempts a WHERE a.channel_id = $1
               ON CONFLICT (attempt_id, template) WHERE attempt_id IS NOT NULL DO NOTHING""",
            channel_id,
            question,
            score,
            at,
        )
        return status.endswith(" 1")
