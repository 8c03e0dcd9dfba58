"""Agents' softphone accounts in Asterisk: created with the agent (a PJSIP endpoint, aor and
auth pushed over ARI into astdb, with a new SIP password shown once), removed from Asterisk when
he is disabled and pushed again when he is enabled, and pushed again whenever the engine finds
Asterisk without them (a new Asterisk, a lost astdb).

Why pushed, not written: a rendered include needs a `pjsip reload` (which every softphone and
the trunk go through) and a file the engine can write on the PBX host; PJSIP realtime on
PostgreSQL needs res_config_pgsql and a second schema Asterisk owns. Pushed objects take effect
at once, live in astdb (they survive an Asterisk restart, see asterisk-config/engine/sorcery.conf),
and the engine's own table says which ones are its own."""

from __future__ import annotations

from dataclasses import dataclass, replace

import structlog

from pbx_engine.agents.enrolment import NewAgent, check_endpoint_free, choose_softphone
from pbx_engine.agents.softphones import (
    PjsipObject,
    SoftphoneAccount,
    md5_credential,
    new_sip_password,
    pjsip_objects,
)
from pbx_engine.ari.client import AriClient
from pbx_engine.ari.errors import AriError, AriUnavailable
from pbx_engine.refusals import Refused
from pbx_engine.storage import Storage
from pbx_engine.storage.softphones import EndpointTaken, Enrolment

log = structlog.get_logger(__name__)

PJSIP = "res_pjsip"  # the configuration class of endpoints, aors and auths


@dataclass(frozen=True)
class Issued:
    """A managed account made now (`password` to show once) or kept (`password` None)."""

    login: str
    endpoint: str
    password: str | None


class EnrolmentRefused(Refused):
    """Nothing was stored: each problem is (line, what is wrong); line 0 for a single agent."""

    def __init__(self, problems: list[tuple[int, str]]) -> None:
        super().__init__("; ".join(problem for _, problem in problems), 409)
        self.problems = problems


@dataclass(frozen=True)
class Reconciled:
    pushed: list[str]
    removed: list[str]
    failed: list[str]


class SoftphoneAccounts:
    def __init__(self, storage: Storage, ari: AriClient, rtp_timeout: int) -> None:
        self._storage = storage
        self._ari = ari
        self._rtp_timeout = rtp_timeout

    async def enrol(self, agents: list[NewAgent]) -> list[Issued]:
        """Add or update every agent, or none (EnrolmentRefused, AriUnavailable)."""
        plans, problems, issued = [], [], []
        for agent in agents:
            try:
                plan, password = await self._plan(agent)
            except Refused as refusal:
                problems.append((agent.line, f"{agent.login}: {refusal}"))
                continue
            plans.append(plan)
            if plan.managed and plan.endpoint is not None:
                issued.append(Issued(agent.login, plan.endpoint, password))
        if problems:
            raise EnrolmentRefused(problems)
        new = [plan.account for plan in plans if plan.account is not None]
        try:
            replaced = await self._storage.softphones.enrol(plans, lambda: self._push_all(new))
        except EndpointTaken as taken:
            raise EnrolmentRefused([(0, f"endpoint {taken} is another agent's")]) from None
        for account in replaced:
            await self._delete_quietly(account.endpoint)
        for account in new:
            log.info("softphone.created", endpoint=account.endpoint)
        for kept in (i for i in issued if i.password is None):
            await self._restore_if_missing(kept.login)
        return issued

    async def _restore_if_missing(self, login: str) -> None:
        """A kept account Asterisk lost while the engine was not running is pushed now."""
        mine = await self._storage.softphones.account_of(login)
        if mine is not None and await self._missing(mine.account):
            await self._push(mine.account)
            log.info("softphone.pushed_again", agent=login, endpoint=mine.account.endpoint)

    async def _plan(self, agent: NewAgent) -> tuple[Enrolment, str | None]:
        mine = await self._storage.softphones.account_of(agent.login)
        choice = choose_softphone(
            agent,
            disabled=await self._storage.agent_access.is_disabled(agent.login),
            account_endpoint=mine.account.endpoint if mine is not None else None,
            current_endpoint=await self._current_endpoint(agent.login),
        )
        plan = Enrolment(
            agent.login, agent.name, agent.team, agent.role, choice.endpoint, managed=choice.managed
        )
        endpoint = choice.endpoint
        if not choice.new_account or endpoint is None:
            return plan, None
        owner = await self._storage.softphones.endpoint_owner(endpoint)
        # Asterisk is asked only when the engine's own table has not refused already.
        in_files = owner in (None, agent.login) and (
            await self._ari.get_config_object(PJSIP, "endpoint", endpoint) is not None
        )
        check_endpoint_free(agent.login, endpoint, owner=owner, in_asterisk_files=in_files)
        password = new_sip_password()
        account = SoftphoneAccount(endpoint, md5_credential(endpoint, password))
        return replace(plan, account=account), password

    async def _current_endpoint(self, login: str) -> str | None:
        current = await self._storage.agents.get_agent(login)
        return current.sip_endpoint if current is not None else None

    async def _push_all(self, accounts: list[SoftphoneAccount]) -> None:
        pushed: list[str] = []
        try:
            for account in accounts:
                pushed.append(account.endpoint)
                await self._push(account)
        except Exception:
            for endpoint in pushed:
                await self._delete_quietly(endpoint)
            raise

    async def _push(self, account: SoftphoneAccount) -> None:
        for obj in pjsip_objects(account, self._rtp_timeout):
            await self._ari.put_config_object(PJSIP, obj.kind, obj.id, obj.fields)

    async def _delete(self, endpoint: str) -> bool:
        """Endpoint first: nothing then points at the aor and auth being deleted."""
        gone = False
        for kind in ("endpoint", "aor", "auth"):
            gone = await self._ari.delete_config_object(PJSIP, kind, endpoint) or gone
        return gone

    async def _delete_quietly(self, endpoint: str) -> None:
        try:
            await self._delete(endpoint)
        except (AriError, AriUnavailable) as error:
            # The next reconcile cannot find it (no row any more): say so loudly.
            log.error("softphone.delete_failed", endpoint=endpoint, error=str(error))

    async def withdraw(self, login: str) -> str | None:
        """His managed endpoint (if any) out of Asterisk; kept in the table, so enabling him
        again brings it back. Asterisk unreachable: the next reconcile removes it."""
        mine = await self._storage.softphones.account_of(login)
        if mine is None:
            return None
        try:
            await self._delete(mine.account.endpoint)
        except (AriError, AriUnavailable) as error:
            log.warning(
                "softphone.withdraw_later", endpoint=mine.account.endpoint, error=str(error)
            )
            return None
        log.info("softphone.withdrawn", agent=login, endpoint=mine.account.endpoint)
        return mine.account.endpoint

    async def restore(self, login: str) -> str | None:
        """His managed endpoint pushed again (he was enabled)."""
        mine = await self._storage.softphones.account_of(login)
        if mine is None or mine.disabled:
            return None
        await self._push(mine.account)
        return mine.account.endpoint

    async def reconcile(self) -> Reconciled:
        """Asterisk made to match the table: an enabled agent's account it lacks is pushed,
        a disabled agent's is deleted."""
        pushed, removed, failed = [], [], []
        for managed in await self._storage.softphones.accounts():
            endpoint = managed.account.endpoint
            try:
                if managed.disabled:
                    if await self._delete(endpoint):
                        removed.append(endpoint)
                elif await self._missing(managed.account):
                    await self._push(managed.account)
                    pushed.append(endpoint)
            except (AriError, AriUnavailable) as error:
                log.warning("softphone.reconcile_failed", endpoint=endpoint, error=str(error))
                failed.append(endpoint)
        if pushed or removed or failed:
            log.info("softphone.reconciled", pushed=pushed, removed=removed, failed=failed)
        return Reconciled(pushed, removed, failed)

    async def _missing(self, account: SoftphoneAccount) -> bool:
        objects: list[PjsipObject] = pjsip_objects(account, self._rtp_timeout)
        for obj in objects:
            if await self._ari.get_config_object(PJSIP, obj.kind, obj.id) is None:
                return True
        return False
