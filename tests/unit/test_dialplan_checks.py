"""The pure half of the dialplan check: Asterisk's complaints read from its log, mapped to the
operator's files, and the engine's own checks (contexts, Stasis app, applications)."""

from pathlib import Path

from pbx_engine.amd.detectors import DETECTORS, MESSAGE_DROP_CONTEXT
from pbx_engine.asterisk_config.checks import (
    Problem,
    endpoint_contexts,
    jump_problems,
    logged_problems,
    missing_contexts,
    parse_dialplan,
    shown_applications,
    shown_contexts,
    stasis_app_problems,
    to_sources,
    unknown_applications,
)
from pbx_engine.asterisk_config.validate import (
    throwaway_files,
    throwaway_modules,
    wanted_contexts,
)

AT = "[2026-12-03 09:30:43.437]"
ETC = "/tmp/pbx-check-x/etc"
LOG = "\n".join(
    [
        f"{AT} VERBOSE[22127] pbx_variables.c: Setting global variable 'A' to 'b'",
        f"{AT} WARNING[22127] pbx_config.c: No closing parenthesis found? 'Set(G=${{W}}' "
        f"at line 41 of {ETC}/dialplan.conf",
        f"{AT} NOTICE[22127] pbx.c: No such label 'nn' in extension 's' in context 'echo-test'",
        f"{AT} WARNING[22127] pbx_config.c: Invalid priority/label 'nn' at line 82 of "
        f"{ETC}/dialplan.conf",
        f"{AT} WARNING[22127] pbx_config.c: Can't use 'same' priority on the first entry at "
        f"line 3 of {ETC}/extensions.conf!",
        f"{AT} WARNING[22127] config.c: parse error: no closing ']', line 7 of {ETC}/dialplan.conf",
        f"{AT} WARNING[22127] pbx_config.c: ==!!== Unknown directive: frobnicate at line 9 of "
        f"{ETC}/dialplan.conf -- IGNORING!!!",
        f"{AT} WARNING[22127][C-00000001] config.c: '{ETC}/a.conf', line 3:  Same File "
        "included more than once!",
        f"{AT} WARNING[22127] res_musiconhold.c: No music on hold classes configured, "
        "disabling music on hold.",
        f"{AT} ERROR[22127] loader.c: Module 'app_frob.so' could not be loaded.",
    ]
)


def test_given_asterisk_warnings_when_read_then_each_gives_file_line_and_problem():
    problems = logged_problems(LOG)

    etc = ETC
    assert problems == [
        Problem(f"{etc}/dialplan.conf", 41, "No closing parenthesis found? 'Set(G=${W}'"),
        Problem(f"{etc}/dialplan.conf", 82, "Invalid priority/label 'nn'"),
        Problem(f"{etc}/extensions.conf", 3, "Can't use 'same' priority on the first entry"),
        Problem(f"{etc}/dialplan.conf", 7, "parse error: no closing ']'"),
        Problem(f"{etc}/dialplan.conf", 9, "==!!== Unknown directive: frobnicate -- IGNORING!!!"),
        Problem(f"{etc}/a.conf", 3, "Same File included more than once!"),
        Problem("loader.c", None, "Module 'app_frob.so' could not be loaded."),
    ]


def test_given_a_warning_without_a_place_when_read_then_it_is_not_the_dialplans_problem():
    assert logged_problems(LOG.splitlines()[-2]) == []


def test_given_rendered_paths_when_mapped_then_they_name_the_operators_templates():
    etc = Path("/tmp/pbx-check-x/etc")
    sources = {"dialplan.conf": Path("/srv/dialplans/engine.conf")}
    problems = [
        Problem(str(etc / "dialplan.conf"), 41, "broken"),
        Problem(str(etc / "dialplan.conf"), 41, "broken"),
        Problem("/elsewhere/dialplan.conf", 2, "not ours"),
    ]

    assert to_sources(problems, sources, etc) == [
        Problem("/srv/dialplans/engine.conf", 41, "broken"),
        Problem("/elsewhere/dialplan.conf", 2, "not ours"),
    ]
    assert str(Problem("a.conf", 4, "x")) == "a.conf:4: x"
    assert str(Problem("loader.c", None, "x")) == "loader.c: x"


EXTENSIONS = """\
[general]
static = yes
[globals]
ENGINE_APP = pbx-engine
"""

DIALPLAN = """\
; a comment [not-a-context]
[engine-amd]
exten => s,1,NoOp(AMD for ${CHANNEL(name)}) ; trailing comment
 same => n,AMD()
 same => n(back),Stasis(${ENGINE_APP},amd,${AMDSTATUS})
exten => 100,hint,PJSIP/agent-100
[from-agents](+)
exten => _X.,1,Stasis(other-app,dialled)
 same => n,Playbak(beep)
 same => n,Stasis(${CHANNEL_APP},dialled)
 same => n,${CHOSEN_APP}(x)
"""


def test_given_a_dialplan_when_parsed_then_contexts_applications_and_globals_are_found():
    dialplan = parse_dialplan({"ext.conf": EXTENSIONS, "engine.conf": DIALPLAN})

    assert dialplan.contexts == {
        "general": ("ext.conf", 1),
        "globals": ("ext.conf", 3),
        "engine-amd": ("engine.conf", 2),
        "from-agents": ("engine.conf", 7),
    }
    assert dialplan.globals == {"ENGINE_APP": "pbx-engine"}
    assert [(a.line, a.context, a.name) for a in dialplan.applications] == [
        (3, "engine-amd", "NoOp"),
        (4, "engine-amd", "AMD"),
        (5, "engine-amd", "Stasis"),
        (8, "from-agents", "Stasis"),
        (9, "from-agents", "Playbak"),
        (10, "from-agents", "Stasis"),
        (11, "from-agents", "${CHOSEN_APP}"),
    ]
    assert dialplan.applications[0].arguments == "AMD for ${CHANNEL(name)}"


def test_given_stasis_calls_when_checked_then_only_another_app_is_a_problem():
    dialplan = parse_dialplan({"ext.conf": EXTENSIONS, "engine.conf": DIALPLAN})

    problems = stasis_app_problems(dialplan, "pbx-engine")

    # ${ENGINE_APP} resolves through [globals]; ${CHANNEL_APP} is unknown until a call runs.
    assert [(p.file, p.line) for p in problems] == [("engine.conf", 8)]
    assert "'other-app'" in problems[0].message
    assert len(stasis_app_problems(dialplan, "renamed")) == 2


def test_given_an_application_asterisk_lacks_when_checked_then_its_line_is_named():
    dialplan = parse_dialplan({"engine.conf": DIALPLAN})

    problems = unknown_applications(dialplan, {"NoOp", "amd", "Stasis"})

    # ${CHOSEN_APP} is known only when a call runs: not a problem.
    assert [(p.file, p.line) for p in problems] == [("engine.conf", 9)]
    assert "'Playbak'" in problems[0].message


def test_given_contexts_the_engine_uses_when_one_is_missing_then_it_is_named_with_its_sender():
    problems = missing_contexts(
        {"engine-amd", "from-pstn"},
        {"engine-amd": "the app_amd detector", "from-agents": "endpoint [agent]"},
        "engine.conf",
    )

    assert (
        str(problems[0])
        == "engine.conf: no context [from-agents]: endpoint [agent] sends calls there"
    )
    assert len(problems) == 1


PJSIP = """\
[pstn]
type = endpoint
context = from-pstn ; the carrier's calls
[agent-endpoint](!)
context=from-agents
"""


def test_given_pjsip_endpoints_when_read_then_their_contexts_are_wanted():
    assert endpoint_contexts(PJSIP, "pjsip.conf") == {
        "from-pstn": "endpoint [pstn] (pjsip.conf:3)",
        "from-agents": "endpoint [agent-endpoint] (pjsip.conf:5)",
    }


def test_given_the_engine_profile_when_contexts_are_listed_then_detectors_drop_and_endpoints():
    wanted = wanted_contexts(
        {"pjsip.conf": PJSIP}, {"pjsip.conf": "/srv/pjsip.conf"}, [DETECTORS["app_amd-tuned"]]
    )

    assert set(wanted) == {"engine-amd-tuned", MESSAGE_DROP_CONTEXT, "from-pstn", "from-agents"}
    assert wanted["from-pstn"] == "endpoint [pstn] (/srv/pjsip.conf:3)"


def test_given_the_operators_modules_when_narrowed_then_no_network_module_loads():
    modules = throwaway_modules(
        "[modules]\nautoload = no\nnoload => app_system.so\nrequire => chan_pjsip.so\n"
        "require => res_pjsip.so\nrequire => app_stasis.so\nload => func_strings.so\n"
        "require => res_ari_channels.so\nrequire => res_agi.so\n"
    )

    assert modules == (
        "[modules]\nautoload = no\nload => pbx_config.so\nload => app_stasis.so\n"
        "load => func_strings.so\nload => res_agi.so\n"
    )


def test_given_rendered_files_when_made_throwaway_then_http_and_ami_are_off_and_warnings_logged():
    files = throwaway_files(
        {"modules.conf": "require => pbx_config.so\n", "modules-required.conf": "", "x": "y"}
    )

    assert "enabled = no" in files["http.conf"]
    assert "enabled = no" in files["manager.conf"]
    assert files["logger.conf"] == "[logfiles]\nmessages => warning,error\n"
    assert "modules-required.conf" not in files
    assert files["x"] == "y"


def test_given_cli_output_when_read_then_contexts_and_applications_are_listed():
    shown = (
        "[ Context 'from-pstn' created by 'pbx_config' ]\n"
        "  '_X.' =>          1. Goto(inbound,s,1)    [extensions.conf:3]\n"
        "[ Context 'inbound' created by 'pbx_config' ]\n"
    )
    applications = (
        "    -= Registered Asterisk Applications =-\n"
        "                    AMD: Attempt to detect answering machines.\n"
        "                 Stasis: Invoke an external Stasis application.\n"
    )

    assert shown_contexts(shown) == {"from-pstn", "inbound"}
    assert shown_applications(applications) == {"AMD", "Stasis"}


def test_given_jumps_when_checked_then_only_a_literal_missing_context_is_a_problem():
    dialplan = parse_dialplan(
        {
            "engine.conf": "[from-pstn]\n"
            "exten => _X.,1,Goto(inbound,s,1)\n"
            " same => n,Goto(inbund,s,1)\n"
            " same => n,Gosub(lookup,s,1(${CALLER}))\n"
            " same => n,Gosub(missing,s,1(${CALLER}))\n"
            " same => n,Goto(${TARGET},s,1)\n"
            " same => n,Goto(s,2)\n"
        }
    )

    problems = jump_problems(dialplan, {"from-pstn", "inbound", "lookup"})

    assert [(p.line, p.message) for p in problems] == [
        (3, "Goto() to context [inbund], which the dialplan lacks"),
        (5, "Gosub() to context [missing], which the dialplan lacks"),
    ]
