import pytest

from pbx_engine.supervision import SupervisionMode, may_supervise, snoop_directions


@pytest.mark.parametrize(
    ("mode", "spy", "whisper"),
    [
        (SupervisionMode.LISTEN, "both", "none"),  # hears all, heard by none
        (SupervisionMode.WHISPER, "both", "out"),  # heard by the agent only
        (SupervisionMode.BARGE, "both", "both"),  # heard by everyone on the call
    ],
)
def test_given_a_mode_when_snooping_on_the_agents_leg_then_these_directions(mode, spy, whisper):
    assert snoop_directions(mode) == (spy, whisper)


@pytest.mark.parametrize(("role", "may"), [("agent", False), ("supervisor", True), ("admin", True)])
def test_given_a_role_when_asking_to_supervise_then_only_supervisors_and_admins_may(role, may):
    assert may_supervise(role) is may
