"""Inbound routing decisions (ACD): owner, owner finishing wrap-up, team, queue."""

from datetime import UTC, datetime, timedelta

from pbx_engine.agents.states import AgentState
from pbx_engine.routing.acd import AgentView, route_inbound

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
S = AgentState


def view(login, state, team="north", idle_for=0.0):
    return AgentView(login, team, state, NOW - timedelta(seconds=idle_for))


def route(agents, owner="anna", team="north"):
    return route_inbound(
        agents, NOW, owner=owner, owner_team=team, owner_wait=10, wrap_up_seconds=15
    )


def test_the_owner_takes_his_debtors_call_when_ready():
    decision = route([view("anna", S.READY), view("piotr", S.READY, idle_for=99)])
    assert (decision.kind, decision.login) == ("agent", "anna")


def test_an_owner_about_to_finish_his_wrap_up_is_waited_for():
    decision = route([view("anna", S.WRAP_UP, idle_for=8), view("piotr", S.READY)])
    assert (decision.kind, decision.login) == ("wait_for_owner", "anna")
    assert decision.wait_seconds == 8.0  # 7 s left of 15, and a second's grace
    # with more wrap-up left than we wait, the team takes the call
    decision = route([view("anna", S.WRAP_UP, idle_for=1), view("piotr", S.READY)])
    assert (decision.kind, decision.login) == ("agent", "piotr")


def test_a_busy_owner_hands_over_to_the_longest_idle_of_his_team():
    agents = [
        view("anna", S.ON_CALL),
        view("piotr", S.READY, idle_for=5),
        view("ewa", S.READY, idle_for=50),
        view("john", S.READY, team="south", idle_for=500),
    ]
    decision = route(agents)
    assert (decision.kind, decision.login, decision.team) == ("agent", "ewa", "north")


def test_nobody_free_in_the_team_means_the_teams_queue():
    agents = [view("anna", S.PAUSED), view("piotr", S.ON_CALL), view("john", S.READY, "south")]
    decision = route(agents)
    assert (decision.kind, decision.team) == ("queue", "north")


def test_a_caller_without_an_owner_goes_to_anyone_ready_or_the_common_queue():
    agents = [view("john", S.READY, "south", idle_for=3), view("ewa", S.READY, idle_for=30)]
    decision = route(agents, owner=None, team=None)
    assert (decision.kind, decision.login, decision.team) == ("agent", "ewa", None)
    assert route([], owner=None, team=None).kind == "queue"


def test_an_owner_not_logged_in_still_routes_to_his_team():
    decision = route([view("piotr", S.READY)], owner="anna")
    assert (decision.kind, decision.login) == ("agent", "piotr")


# ---------------------------------------------------------------------- the debtor's menu
from datetime import date  # noqa: E402

from pbx_engine.routing.ivr import DebtorMenu, Leave, Play  # noqa: E402

TODAY = date(2026, 11, 24)


def test_the_menu_plays_the_balance_and_comes_back():
    menu = DebtorMenu(TODAY)
    assert menu.start() == [Play(("menu",))]
    assert menu.key("1") == [Play(("balance", "menu"))]
    assert menu.key("2") == [Leave("agent")]
    assert menu.key("3") == []  # done: later keys change nothing


def test_a_callback_request_leaves_the_menu():
    assert DebtorMenu(TODAY).key("3") == [Leave("callback")]


def test_a_promise_date_is_typed_as_day_and_month():
    menu = DebtorMenu(TODAY)
    assert menu.key("4") == [Play(("promise_date",))]
    assert menu.key("0") == menu.key("5") == menu.key("1") == []
    assert menu.key("2") == [Leave("promise", date(2026, 12, 5))]
    # a day already past this year is next year's
    menu = DebtorMenu(TODAY)
    menu.key("4")
    assert [menu.key(d) for d in "1503"][-1] == [Leave("promise", date(2027, 3, 15))]


def test_no_such_date_is_asked_again_and_too_many_mistakes_go_to_an_agent():
    menu = DebtorMenu(TODAY)
    menu.key("4")
    assert [menu.key(d) for d in "3102"][-1] == [Play(("invalid", "promise_date"))]  # 31 Feb
    assert menu.key("*") == [Play(("invalid", "promise_date"))]
    assert menu.key("#") == [Leave("agent")]


def test_silence_replays_once_then_goes_to_an_agent():
    menu = DebtorMenu(TODAY)
    assert menu.silence() == [Play(("menu",))]
    assert menu.silence() == [Leave("agent")]
    assert menu.silence() == []


def test_keys_that_mean_nothing_are_told_so():
    menu = DebtorMenu(TODAY)
    assert menu.key("9") == [Play(("invalid", "menu"))]


def test_with_a_pay_link_to_send_the_menu_offers_5_and_5_leaves_for_it():
    menu = DebtorMenu(TODAY, pay_link=True)
    assert menu.start() == [Play(("menu_pay",))]
    assert menu.key("1") == [Play(("balance", "menu_pay"))]
    assert menu.key("9") == [Play(("invalid", "menu_pay"))]
    assert menu.silence() == [Play(("menu_pay",))]
    assert menu.key("5") == [Leave("pay_link")]


def test_without_a_pay_link_to_send_5_means_nothing():
    menu = DebtorMenu(TODAY)
    assert menu.start() == [Play(("menu",))]
    assert menu.key("5") == [Play(("invalid", "menu"))]


def test_prompts_exist_in_every_language_and_fall_back_to_english():
    from pathlib import Path

    from pbx_engine.routing.prompts import PROMPTS, prompt_path

    names = set(PROMPTS["en"])
    assert all(set(texts) == names for texts in PROMPTS.values())
    folder = Path("/srv/prompts")
    assert prompt_path(folder, "menu", "pl") == "sound:/srv/prompts/pbx-ivr-menu-pl"
    assert prompt_path(folder, "menu", "xx") == "sound:/srv/prompts/pbx-ivr-menu-en"
