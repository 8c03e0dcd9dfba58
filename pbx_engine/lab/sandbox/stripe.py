"""A payment provider for the tests and the demo: localstripe (from PyPI), a stateful server
that answers as Stripe's API documents, run as its own process on a free port. It keeps
PaymentIntents, charges test cards (4242 4242 4242 4242 goes through; 4000 0000 0000 0341 is
declined), and posts signed webhooks to the endpoints registered with it.

`pay()` does what the debtor's browser and Stripe do between the engine's page and the engine's
webhook: the card typed into Stripe's fields becomes a PaymentMethod, and the intent the engine
started is confirmed with it.

`async with StripeSandbox() as stripe:` ... `await stripe.register_webhook(url, secret)`.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

import aiohttp
import structlog

from pbx_engine.lab.sandbox import process as processes
from pbx_engine.lab.sandbox.errors import SandboxError

log = structlog.get_logger(__name__)

HOST = "127.0.0.1"
SECRET_KEY = "sk_test_sandbox"  # localstripe takes any sk_ key
PUBLISHABLE_KEY = "pk_test_sandbox"
ACCEPTED_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000341"  # accepted into the form, declined when charged


class StripeSandbox:
    def __init__(self, *, boot_timeout: float = 20.0) -> None:
        self.port = 0
        self.dir: Path | None = None
        self._boot_timeout = boot_timeout
        self._process: asyncio.subprocess.Process | None = None

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def script_url(self) -> str:
        """localstripe's own stand-in for Stripe.js, served at the path Stripe serves it."""
        return f"{self.api_url}/js.stripe.com/v3/"

    async def __aenter__(self) -> StripeSandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="pbx-stripe-"))
        processes.remove_at_exit(self.dir)
        try:
            self._process, self.port = await processes.launch_on_free_port(
                lambda port: [
                    sys.executable, "-m", "localstripe", "--port", str(port), "--from-scratch"
                ],
                host=HOST,
                what="localstripe",
                log_file=self.dir / "localstripe.log",
                timeout=self._boot_timeout,
            )  # fmt: skip
        except BaseException:
            await self.stop()
            raise
        log.info("sandbox.stripe_ready", port=self.port)

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            await processes.end(process, "localstripe", grace=2)
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            processes.forget_folder(self.dir)
            self.dir = None

    def webhooks(self, event: str) -> tuple[int, int]:
        """How many `event` webhooks the server has posted so far: (answered 2xx, not)."""
        assert self.dir is not None
        text = (self.dir / "localstripe.log").read_text(errors="replace")
        ok = text.count(f'webhook "{event}" successfully delivered')
        return ok, text.count(f'webhook "{event}" failed')

    async def _call(self, method: str, path: str, form: dict[str, str] | None = None) -> dict:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
            http.request(
                method,
                self.api_url + path,
                data=form,
                headers={"Authorization": f"Bearer {SECRET_KEY}"},
            ) as response,
        ):
            if response.status >= 400:
                raise SandboxError(
                    f"localstripe {method} {path}: {response.status} {await response.text()}"
                )
            return await response.json(content_type=None)

    async def register_webhook(self, url: str, secret: str) -> None:
        """Every event from now on posted to `url`, signed with `secret`."""
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{self.api_url}/_config/webhooks/engine", data={"url": url, "secret": secret}
            ) as response,
        ):
            if response.status != 200:
                raise SandboxError(f"localstripe webhook set-up: {response.status}")

    async def pay(self, client_secret: str, card: str = ACCEPTED_CARD) -> dict:
        """The debtor pays the intent the engine started with `card`: the intent as it stands
        after (status `succeeded`, or `requires_payment_method` when the card is declined)."""
        intent_id = client_secret.partition("_secret_")[0]
        method = await self._call(
            "POST",
            "/v1/payment_methods",
            {
                "type": "card",
                "card[number]": card,
                "card[exp_month]": "12",
                "card[exp_year]": "2034",
                "card[cvc]": "123",
            },
        )
        await self._call(
            "POST", f"/v1/payment_intents/{intent_id}", {"payment_method": method["id"]}
        )
        try:
            return await self._call("POST", f"/v1/payment_intents/{intent_id}/confirm")
        except SandboxError as error:
            if "402" not in str(error):  # a declined card: Stripe answers 402
                raise
            return await self._call("GET", f"/v1/payment_intents/{intent_id}")
