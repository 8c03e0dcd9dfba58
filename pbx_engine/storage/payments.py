"""Payments through the engine's payment link: what the payment page shows of a case, and a
payment the provider confirmed, kept once however often it is reported."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import asyncpg


@dataclass(frozen=True)
class PayableCase:
    """A case as its payment page shows it: what is left to pay, and the promise that is due."""

    id: int
    creditor: str
    reference: str
    currency: str
    amount_owed: Decimal
    amount_paid: Decimal
    promise_amount: Decimal | None  # the latest promise's amount, less what came since
    promise_date: date | None

    @property
    def balance(self) -> Decimal:
        return max(self.amount_owed - self.amount_paid, Decimal(0))

    @property
    def suggested(self) -> Decimal:
        """What the page offers to pay: what is still owed of the promise, else the balance."""
        if self.promise_amount is not None and 0 < self.promise_amount <= self.balance:
            return self.promise_amount
        return self.balance


class PaymentStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def payable_case(self, case_id: int) -> PayableCase | None:
        row = await self.pool.fetchrow(
            """SELECT c.id, c.creditor, c.reference, c.currency, c.amount_owed,
                      (SELECT coalesce(sum(amount), 0) FROM payments WHERE case_id = c.id)
                          AS amount_paid,
                      pr.promise_amount - (SELECT coalesce(sum(p.amount), 0) FROM payments p
                                           WHERE p.case_id = c.id
                                             AND p.paid_on >= pr.created_at::date)
                          AS promise_amount,
                      pr.promise_date
               FROM cases c
               LEFT JOIN LATERAL (
                   SELECT promise_amount, promise_date, created_at FROM dispositions
                   WHERE case_id = c.id AND code = 'promise_to_pay'
                     AND promise_amount IS NOT NULL
                   ORDER BY created_at DESC, id DESC LIMIT 1) pr ON true
               WHERE c.id = $1""",
            case_id,
        )
        return PayableCase(**dict(row)) if row else None

    async def record_confirmed(
        self,
        case_id: int,
        amount: Decimal,
        paid_on: date,
        provider: str,
        provider_ref: str,
    ) -> int | None:
        """The new payment's id; None if the provider's payment is on record already (or the
        case is gone)."""
        return await self.pool.fetchval(
            """INSERT INTO payments (case_id, amount, paid_on, reference, provider, provider_ref)
               SELECT id, $2, $3, $5, $4, $5 FROM cases WHERE id = $1
               ON CONFLICT (provider, provider_ref) WHERE provider_ref IS NOT NULL DO NOTHING
               RETURNING id""",
            case_id,
            amount,
            paid_on,
            provider,
            provider_ref,
        )

    async def by_provider(self, provider: str, provider_ref: str) -> int | None:
        return await self.pool.fetchval(
            "SELECT id FROM payments WHERE provider = $1 AND provider_ref = $2",
            provider,
            provider_ref,
        )
