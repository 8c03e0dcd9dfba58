"""Payment by link, end to end: the link a message or the agent's screen gives, the page it
opens, the payment started at the provider for the amount the debtor chose, and the payment
kept on the case once the provider confirms it (by its signed webhook, or when the debtor comes
back to the page and the engine asks the provider itself). Kept once either way: the provider's
id for the payment is unique on record."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import structlog

from pbx_engine.config import EngineConfig
from pbx_engine.payments.links import PayLink, PayLinkError, make_pay_token, read_pay_token
from pbx_engine.payments.money import typed_amount
from pbx_engine.payments.provider import Checkout, PaymentProvider, ProviderPayment
from pbx_engine.payments.stripe import StripePayments
from pbx_engine.storage import Storage
from pbx_engine.storage.payments import PayableCase

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class StartedPayment:
    checkout: Checkout
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class Confirmation:
    """What became of a payment the debtor came back from."""

    payment: ProviderPayment | None  # None: the provider knows no such payment for this case
    recorded: bool  # kept on the case now or earlier


class PaymentService:
    def __init__(
        self,
        storage: Storage,
        provider: PaymentProvider,
        *,
        secret: bytes,
        public_url: str,
        link_days: float,
        zone: ZoneInfo,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._storage = storage
        self.provider = provider
        self._secret = secret
        self._public_url = public_url.rstrip("/")
        self._lifetime = timedelta(days=link_days)
        self._zone = zone
        self._clock = clock

    def link(self, case_id: int) -> str:
        """The case's payment link, valid for [payments] link_days from now."""
        token = make_pay_token(case_id, self._clock() + self._lifetime, self._secret)
        return f"{self._public_url}/pay/{token}"

    def read_link(self, token: str) -> PayLink:
        return read_pay_token(token, self._secret, self._clock())

    async def page(self, token: str) -> PayableCase:
        """The case a link is for, as its page shows it; PayLinkError if the link is no good or
        its case is gone."""
        link = self.read_link(token)
        case = await self._storage.payments.payable_case(link.case_id)
        if case is None:
            raise PayLinkError("this payment link is for a case that is closed")
        return case

    async def start(self, token: str, typed: str) -> StartedPayment:
        """A payment of what the debtor typed, started at the provider. PayLinkError,
        AmountError (at most the balance), PaymentProviderError."""
        case = await self.page(token)
        amount = typed_amount(typed, case.currency, case.balance)
        checkout = await self.provider.start(case.id, amount, case.currency, case.reference)
        log.info(
            "payment.started", case_id=case.id, reference=checkout.reference, amount=str(amount)
        )
        return StartedPayment(checkout, amount, case.currency)

    async def returned(self, token: str, reference: str) -> Confirmation:
        """The debtor is back on the page from the provider: ask the provider how the payment
        stands (the browser's word is not taken) and keep it if it went through."""
        link = self.read_link(token)
        payment = await self.provider.lookup(reference)
        if payment is None or payment.case_id != link.case_id:
            return Confirmation(None, False)
        return Confirmation(payment, await self._keep(payment, "return"))

    async def notice(self, body: bytes, headers: dict[str, str]) -> ProviderPayment | None:
        """A provider's webhook: the payment it reports, kept if it went through. NoticeRefused
        if the notice is not the provider's."""
        payment = self.provider.read_notice(body, headers, self._clock().timestamp())
        if payment is not None:
            await self._keep(payment, "webhook")
        return payment

    async def _keep(self, payment: ProviderPayment, via: str) -> bool:
        with structlog.contextvars.bound_contextvars(
            case_id=payment.case_id, reference=payment.reference, via=via
        ):
            if not payment.succeeded:
                log.info("payment.not_completed")
                return False
            if payment.case_id is None:
                log.warning("payment.names_no_case")
                return False
            paid_on = self._clock().astimezone(self._zone).date()
            payment_id = await self._storage.payments.record_confirmed(
                payment.case_id, payment.amount, paid_on, self.provider.name, payment.reference
            )
            if payment_id is not None:
                log.info("payment.recorded", payment_id=payment_id, amount=str(payment.amount))
                return True
            known = await self._storage.payments.by_provider(self.provider.name, payment.reference)
            if known is None:
                log.warning("payment.case_gone")
            return known is not None


def build_payment_service(
    config: EngineConfig, storage: Storage, *, secret: bytes, public_url: str
) -> PaymentService | None:
    """The service as [payments] describes it; None without that section."""
    if config.payments is None:
        return None
    return PaymentService(
        storage,
        StripePayments(config.payments),
        secret=secret,
        public_url=public_url,
        link_days=config.payments.link_days,
        zone=ZoneInfo(config.timezone),
    )
