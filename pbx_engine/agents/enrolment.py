"""What enrolling an agent does with his softphone (pure: the facts come in, the choice goes out).

The service (`agents.accounts`) reads the facts (is he disabled, the managed account he has, the
endpoint his agent row names, who holds an endpoint, whether Asterisk's files define it) and
does what is chosen here: no endpoint, one from Asterisk's files used as it is, his managed
account kept, or a new managed account once its endpoint is found free.
"""

from __future__ import annotations

from dataclasses import dataclass

from pbx_engine.agents.softphones import check_endpoint_name
from pbx_engine.refusals import Refused


@dataclass(frozen=True)
class NewAgent:
    """`endpoint` None: the one he has, else a new one named as his login; `existing_endpoint`:
    one written in Asterisk's files by hand, which the engine names but does not manage;
    `softphone` False: none at all."""

    login: str
    name: str
    team: str | None = None
    role: str = "agent"
    endpoint: str | None = None
    existing_endpoint: bool = False
    softphone: bool = True
    line: int = 0  # where he is in an agents file, for the problems found


@dataclass(frozen=True)
class SoftphoneChoice:
    """`endpoint` None: no softphone. `managed` False: an endpoint from Asterisk's files, never
    pushed or deleted. Managed: his account kept as it is (password and all), or, when
    `new_account`, a new one for `endpoint` (see `check_endpoint_free`)."""

    endpoint: str | None
    managed: bool = False
    new_account: bool = False


def choose_softphone(
    agent: NewAgent,
    *,
    disabled: bool,
    account_endpoint: str | None,
    current_endpoint: str | None,
) -> SoftphoneChoice:
    """`account_endpoint`: the endpoint of the managed account he has (None: none);
    `current_endpoint`: the endpoint his agent row names (None: no row, or none). Refused
    (BadEndpointName among them) when he cannot be enrolled as asked."""
    if disabled:
        raise Refused("disabled (enable him first)")
    if not agent.softphone:
        return SoftphoneChoice(None)
    if agent.existing_endpoint:
        if not agent.endpoint:
            raise Refused("name the existing endpoint to use")
        return SoftphoneChoice(check_endpoint_name(agent.endpoint))
    if agent.endpoint is None and current_endpoint and account_endpoint is None:
        return SoftphoneChoice(current_endpoint)  # his hand-written one, kept
    endpoint = check_endpoint_name(agent.endpoint or current_endpoint or agent.login)
    if account_endpoint == endpoint:
        return SoftphoneChoice(endpoint, managed=True)
    return SoftphoneChoice(endpoint, managed=True, new_account=True)


def check_endpoint_free(
    login: str, endpoint: str, *, owner: str | None, in_asterisk_files: bool
) -> None:
    """Refused unless a new managed account may take `endpoint`: no other agent's (`owner`, of
    the engine's table), and not defined in Asterisk's files."""
    if owner is not None and owner != login:
        raise Refused(f"endpoint {endpoint} is agent {owner}'s")
    if in_asterisk_files:
        raise Refused(
            f"endpoint {endpoint} is in Asterisk's configuration files already (name it "
            "as an existing endpoint to use it as it is, or choose another name)"
        )
