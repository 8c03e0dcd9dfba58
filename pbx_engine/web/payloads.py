"""The request bodies of the core routes (`web.api`): a test call, a pause, a disposition, a
payment. Apart from the handlers so that the OpenAPI table can name them without importing the
module that builds the app; the other route modules keep their bodies beside their handlers.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import Field

from pbx_engine.cases.dispositions import Disposition
from pbx_engine.text import MultiLineText, SingleLineText
from pbx_engine.web.common import Payload, PlusE164


class CallPayload(Payload):
    number: PlusE164
    case_id: int | None = None
    caller_id: str | None = None  # one of the caller-ID pools' numbers, or the default


class LoginPayload(Payload):
    phone: Literal["softphone", "browser"] = "softphone"


class GuestPayload(Payload):
    """A guest's browser phone (a room's, the widget's), by the endpoint the engine made."""

    endpoint: str = Field(pattern=r"^guest-[0-9a-f]{16}$")


class PausePayload(Payload):
    reason: SingleLineText = Field(min_length=1, max_length=100)


class DispositionPayload(Payload):
    code: Disposition
    promise_amount: Decimal | None = Field(None, gt=0, max_digits=14, decimal_places=2)
    promise_date: date | None = None
    callback_at: datetime | None = None
    callback_owner_only: bool = False
    note: MultiLineText = Field("", max_length=2000)


class PaymentPayload(Payload):
    amount: Decimal = Field(gt=0, max_digits=14, decimal_places=2)
    paid_on: date
    reference: SingleLineText | None = Field(None, max_length=100)
