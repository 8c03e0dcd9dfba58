"""Agents' softphone accounts made by the engine: `agent add` and `agent import` push a PJSIP
endpoint to the engine's Asterisk, a SIPp softphone registers with the password shown once, the
agent logs in on it; disabling him takes it out of Asterisk, and a lost one is pushed again."""

import re
from pathlib import Path

import aiohttp
import pytest

from pbx_engine.agents.accounts import NewAgent, SoftphoneAccounts
from pbx_engine.agents.states import AgentState
from pbx_engine.ari.client import AriClient
from pbx_engine.config import AriConfig, EngineConfig
from pbx_engine.engine import Engine
from pbx_engine.lab.sandbox.asterisk import AsteriskSandbox, Telephony
from pbx_engine.lab.sandbox.errors import SandboxError
from pbx_engine.lab.sandbox.sipp import SippPhone
from tests.integration.operator import run_cli
from tests.waiting import eventually

PJSIP = "res_pjsip"


@pytest.fixture
def config_file(tmp_path: Path, engine_config: EngineConfig) -> Path:
    """The shared engine's ARI and database, as an operator's engine.toml names them."""
    ari = engine_config.ari
    path = tmp_path / "engine.toml"
    path.write_text(
        f'[ari]\nurl = "{ari.url}"\nusername = "{ari.username}"\n'
        f'password = "{ari.password.get_secret_value()}"\n'
        f'[database]\ndsn = "{engine_config.database.dsn}"\nallow_superuser = true\n'
        "[asterisk]\nagent_rtp_timeout = 15\n"
    )
    return path


def _password(output: str, endpoint: str) -> str:
    found = re.search(rf"SIP password for {re.escape(endpoint)}: (\S+)", output)
    assert found, output
    return found.group(1)


def _phone(telephony: Telephony, endpoint: str, password: str) -> SippPhone:
    pbx = telephony.engine
    return SippPhone(endpoint, password, pbx.sip_host, pbx.sip_port, register_timeout=4)


async def test_given_agent_add_when_his_softphone_registers_then_he_logs_in_and_is_rung(
    connected_engine: Engine, telephony: Telephony, config_file: Path
):
    added = await run_cli(
        *("agent", "add", "zofia", "--endpoint", "agent-301", "--config", str(config_file))
    )
    assert added.returncode == 0, added.stderr
    password = _password(added.stderr, "agent-301")
    endpoint = await connected_engine.ari.get_config_object(PJSIP, "endpoint", "agent-301")
    assert endpoint is not None
    assert (endpoint["context"], endpoint["allow"], endpoint["rtp_timeout"]) == (
        "from-agents", "(ulaw)", "15",
    )  # fmt: skip
    stored = await connected_engine.storage.pool.fetchval(
        "SELECT md5_cred FROM softphone_accounts WHERE endpoint = 'agent-301'"
    )
    assert stored and password not in stored  # only the digest credential is kept

    async with _phone(telephony, "agent-301", password) as phone:
        status = await connected_engine.agents.login("zofia")
        assert status.state is AgentState.READY
        await eventually(lambda: _answered(phone), what="agent-301 answered the login call")
        await connected_engine.agents.logout("zofia")

    disabled = await run_cli("agent", "disable", "zofia", "--config", str(config_file))
    assert disabled.returncode == 0, disabled.stderr
    assert "softphone account agent-301 removed from Asterisk" in disabled.stdout
    assert await connected_engine.ari.get_config_object(PJSIP, "endpoint", "agent-301") is None
    with pytest.raises(SandboxError, match="could not register"):
        async with _phone(telephony, "agent-301", password):
            pass

    enabled = await run_cli("agent", "enable", "zofia", "--config", str(config_file))
    assert enabled.returncode == 0, enabled.stderr
    async with _phone(telephony, "agent-301", password):
        pass  # the same password again: the account came back as it was


async def _answered(phone: SippPhone) -> bool:
    return phone.answered >= 1


async def test_given_an_endpoint_asterisk_lost_when_the_engine_reconciles_then_it_is_pushed(
    connected_engine: Engine, telephony: Telephony, config_file: Path
):
    added = await run_cli("agent", "add", "jadwiga", "--config", str(config_file))
    assert added.returncode == 0, added.stderr
    password = _password(added.stderr, "jadwiga")  # the login names the endpoint
    for kind in ("endpoint", "aor", "auth"):
        assert await connected_engine.ari.delete_config_object(PJSIP, kind, "jadwiga")

    reconciled = await connected_engine.softphones.reconcile()

    assert "jadwiga" in reconciled.pushed
    async with _phone(telephony, "jadwiga", password):
        pass
    again = await run_cli("agent", "add", "jadwiga", "--config", str(config_file))
    assert "SIP endpoint jadwiga: kept, its password unchanged" in again.stderr


async def test_given_an_agents_file_with_a_bad_line_when_imported_then_nothing_is(
    connected_engine: Engine, telephony: Telephony, config_file: Path, tmp_path: Path
):
    # agent-002 is written in pjsip.conf by the sandbox; an earlier test may have left it
    # some agent's, which would be refused first (and for that reason instead).
    await connected_engine.storage.pool.execute(
        "UPDATE agents SET sip_endpoint = NULL WHERE sip_endpoint = 'agent-002'"
    )
    roster = tmp_path / "agents.csv"
    roster.write_text(
        "login,name,team,endpoint\n"
        "marek,Marek Kos,north,agent-311\n"
        "lena,Lena Wolf,north,agent-002\n"
    )
    refused = await run_cli("agent", "import", str(roster), "--config", str(config_file))
    assert refused.returncode == 2
    assert "line 3: lena: endpoint agent-002 is in Asterisk's configuration files" in (
        refused.stderr
    )
    assert await connected_engine.storage.agents.get_agent("marek") is None
    assert await connected_engine.ari.get_config_object(PJSIP, "endpoint", "agent-311") is None

    roster.write_text(
        "login,name,team,endpoint\nmarek,Marek Kos,north,agent-311\nlena,Lena Wolf,,agent-312\n"
    )
    imported = await run_cli("agent", "import", str(roster), "--config", str(config_file))
    assert imported.returncode == 0, imported.stderr
    for endpoint in ("agent-311", "agent-312"):
        async with _phone(telephony, endpoint, _password(imported.stdout, endpoint)):
            pass
    marek = await connected_engine.storage.agents.get_agent("marek")
    assert (marek.name, marek.team, marek.sip_endpoint) == ("Marek Kos", "north", "agent-311")


async def test_given_an_admin_when_he_adds_an_agent_over_http_then_the_softphone_works(
    api, connected_engine: Engine, telephony: Telephony
):
    await connected_engine.storage.agents.upsert_agent("ada", "Ada", role="admin")
    admin = {"Authorization": f"Bearer {await connected_engine.storage.issue_agent_token('ada')}"}
    async with aiohttp.ClientSession(headers=admin) as http:
        body = {"login": "kamil", "name": "Kamil Nowak", "team": "south", "endpoint": "agent-321"}
        async with http.post(f"{api}/admin/agents", json=body) as response:
            assert response.status == 201, await response.text()
            added = await response.json()
        async with http.post(f"{api}/admin/agents", json={**body, "endpoint": "a;b"}) as bad:
            assert bad.status == 422
        taken = {"login": "kasia", "endpoint": "agent-321"}
        async with http.post(f"{api}/admin/agents", json=taken) as response:
            assert response.status == 409
            assert "endpoint agent-321 is agent kamil's" in (await response.json())["error"]
        async with _phone(telephony, "agent-321", added["sip_password"]):
            async with aiohttp.ClientSession() as kamil:
                headers = {"Authorization": f"Bearer {added['token']}"}
                async with kamil.get(f"{api}/agents/me", headers=headers) as response:
                    assert response.status == 200
        async with http.post(f"{api}/admin/agents/kamil/disable") as response:
            assert response.status == 200
    assert await connected_engine.ari.get_config_object(PJSIP, "endpoint", "agent-321") is None
    assert await connected_engine.storage.agents.get_agent("kasia") is None


async def test_given_a_pushed_account_when_asterisk_restarts_or_loses_astdb_then_it_comes_back(
    connected_engine: Engine,
):
    async with AsteriskSandbox("engine") as pbx:
        ari_config = AriConfig(
            url=pbx.ari_url, username=pbx.ari_username, password=pbx.ari_password
        )
        async with AriClient(ari_config, events=False) as ari:
            accounts = SoftphoneAccounts(connected_engine.storage, ari, rtp_timeout=15)
            [issued] = await accounts.enrol([NewAgent("tomek", "Tomek", endpoint="agent-341")])

            await pbx.restart()  # astdb is on disk: nothing to push again
            assert await ari.get_config_object(PJSIP, "auth", "agent-341") is not None
            # (Other tests' accounts, in the shared database, are pushed here the first time.)
            assert "agent-341" not in (await accounts.reconcile()).pushed

            (pbx.run_dir / "lib" / "astdb.sqlite3").unlink()
            await pbx.restart(crash=True)  # a new Asterisk, or a lost disk
            assert await ari.get_config_object(PJSIP, "endpoint", "agent-341") is None
            assert "agent-341" in (await accounts.reconcile()).pushed

        async with SippPhone("agent-341", issued.password, pbx.sip_host, pbx.sip_port):
            pass  # registered with the password shown when he was added
