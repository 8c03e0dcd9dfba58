"""Enrolling agents with softphone accounts, on fakes of the database and ARI: all or nothing,
a failed push undone, an account kept when asked again, a disabled agent's withdrawn."""

from types import SimpleNamespace

import pytest

from pbx_engine.agents.accounts import EnrolmentRefused, NewAgent, SoftphoneAccounts
from pbx_engine.ari.errors import AriError, AriUnavailable
from pbx_engine.storage.models import SoftphoneAccount
from pbx_engine.storage.softphones import ManagedAccount


class FakeAri:
    def __init__(self, in_files=(), fail_on=None):
        self.objects: dict[tuple[str, str], dict] = {("endpoint", n): {} for n in in_files}
        self.fail_on = fail_on

    async def get_config_object(self, config_class, kind, object_id):
        return self.objects.get((kind, object_id))

    async def put_config_object(self, config_class, kind, object_id, fields):
        if object_id == self.fail_on:
            raise AriUnavailable("Asterisk went away")
        self.objects[(kind, object_id)] = fields

    async def delete_config_object(self, config_class, kind, object_id):
        return self.objects.pop((kind, object_id), None) is not None


class FakeSoftphones:
    def __init__(self):
        self.rows: dict[str, ManagedAccount] = {}  # login -> account
        self.stored: list = []

    async def account_of(self, login):
        return self.rows.get(login)

    async def endpoint_owner(self, endpoint):
        found = [m.login for m in self.rows.values() if m.account.endpoint == endpoint]
        return found[0] if found else None

    async def accounts(self):
        return list(self.rows.values())

    async def enrol(self, plans, push):
        await push()  # a failure here leaves nothing stored, as the transaction does
        self.stored.extend(plans)
        for plan in plans:
            if plan.account is not None:
                self.rows[plan.login] = ManagedAccount(plan.login, plan.account, False)
        return []


def _service(ari, disabled=()):
    storage = SimpleNamespace(
        softphones=FakeSoftphones(),
        agent_access=SimpleNamespace(is_disabled=lambda login: _value(login in disabled)),
        agents=SimpleNamespace(get_agent=lambda login: _value(None)),
    )
    return SoftphoneAccounts(storage, ari, rtp_timeout=15), storage


async def _value(value):
    return value


async def test_given_two_agents_when_enrolled_then_each_gets_a_password_and_three_objects():
    ari = FakeAri()
    accounts, storage = _service(ari)
    issued = await accounts.enrol(
        [NewAgent("anna", "Anna"), NewAgent("piotr", "P", endpoint="p-1")]
    )
    assert [(i.login, i.endpoint) for i in issued] == [("anna", "anna"), ("piotr", "p-1")]
    assert all(len(i.password) == 24 for i in issued)
    assert sorted(ari.objects) == sorted(
        (kind, name) for kind in ("auth", "aor", "endpoint") for name in ("anna", "p-1")
    )
    ari.objects.pop(("endpoint", "anna"))  # lost while the engine was not running
    again = await accounts.enrol([NewAgent("anna", "Anna Nowak")])
    assert again[0].password is None  # kept: no new password
    assert ("endpoint", "anna") in ari.objects  # and pushed again


async def test_given_one_bad_agent_when_enrolled_then_nothing_is_stored_or_pushed():
    ari = FakeAri(in_files=["agent-001"])
    accounts, storage = _service(ari, disabled={"ewa"})
    batch = [
        NewAgent("anna", "Anna", line=2),
        NewAgent("lena", "Lena", endpoint="agent-001", line=3),
        NewAgent("jo", "Jo", endpoint="a;b", line=4),
        NewAgent("ewa", "Ewa", line=5),
    ]
    with pytest.raises(EnrolmentRefused) as refused:
        await accounts.enrol(batch)
    assert [line for line, _ in refused.value.problems] == [3, 4, 5]
    assert "lena: endpoint agent-001 is in Asterisk's configuration files" in str(refused.value)
    assert "ewa: disabled" in str(refused.value)
    assert storage.softphones.stored == []
    assert set(ari.objects) == {("endpoint", "agent-001")}


async def test_given_a_push_that_fails_half_way_then_what_was_pushed_is_deleted():
    ari = FakeAri(fail_on="piotr")
    accounts, storage = _service(ari)
    with pytest.raises(AriUnavailable):
        await accounts.enrol([NewAgent("anna", "Anna"), NewAgent("piotr", "Piotr")])
    assert ari.objects == {}
    assert storage.softphones.stored == []


async def test_given_no_softphone_or_an_existing_endpoint_then_nothing_is_pushed():
    ari = FakeAri(in_files=["agent-001"])
    accounts, storage = _service(ari)
    issued = await accounts.enrol(
        [
            NewAgent("sue", "Sue", role="supervisor", softphone=False),
            NewAgent("lena", "Lena", endpoint="agent-001", existing_endpoint=True),
        ]
    )
    assert issued == []
    assert [(p.endpoint, p.managed) for p in storage.softphones.stored] == [
        (None, False),
        ("agent-001", False),
    ]
    assert set(ari.objects) == {("endpoint", "agent-001")}


async def test_given_accounts_when_reconciled_then_lost_ones_pushed_and_disabled_ones_removed():
    ari = FakeAri()
    accounts, storage = _service(ari)
    await accounts.enrol([NewAgent("anna", "Anna"), NewAgent("ewa", "Ewa")])
    ari.objects.pop(("aor", "anna"))  # Asterisk lost part of anna's account
    ewa = storage.softphones.rows["ewa"]
    storage.softphones.rows["ewa"] = ManagedAccount("ewa", ewa.account, disabled=True)

    reconciled = await accounts.reconcile()

    assert (reconciled.pushed, reconciled.removed, reconciled.failed) == (["anna"], ["ewa"], [])
    assert ("aor", "anna") in ari.objects
    assert not any(name == "ewa" for _, name in ari.objects)


async def test_given_asterisk_refusing_when_reconciling_then_the_account_is_named_failed():
    ari = FakeAri()
    accounts, storage = _service(ari)
    storage.softphones.rows["anna"] = ManagedAccount(
        "anna", SoftphoneAccount("anna", "0" * 32), False
    )

    async def refuse(*args):
        raise AriError(403, "PUT", "/asterisk/config/dynamic", "Could not update")

    ari.put_config_object = refuse
    reconciled = await accounts.reconcile()
    assert reconciled.failed == ["anna"]
