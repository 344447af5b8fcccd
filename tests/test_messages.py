"""Messages that point at the fix (issue 18, item 7), without a server.

A misspelled keyword of `DeploymentConfig` (or an infra type) gets a did-you-mean, not
"fix the import error"; a refused cron names the field that is out of range; a value an
environment's override set is reported under that override, so the line names the
environment; `flowfleet new` says which name to use instead.
"""

from __future__ import annotations

import pytest

from fleet_sandbox import Sandbox, flow_module
from flowfleet.cli.scaffold import infra_problem, team_problem
from flowfleet.cron_fields import diagnose

PKG = "acme_flows"


def problems(sandbox: Sandbox, config: str, env: str = "prod") -> list[str]:
    sandbox.package(PKG, {"report": flow_module(PKG, config)})
    return sandbox.problems(env)


def one_line_with(lines: list[str], *parts: str) -> str:
    matching = [line for line in lines if all(part in line for part in parts)]
    assert len(matching) == 1, f"no single line has all of {parts}:\n" + "\n".join(lines)
    return matching[0]


@pytest.mark.parametrize(
    ("config", "expect"),
    [
        ('timezon="UTC"', ["field 'timezon'", "DeploymentConfig(...) has no keyword 'timezon'"]),
        ('cron="0 9 * * *", paramters={"audience": "x"}', ["did you mean 'parameters'?"]),
        ('name="x", enviroments=["prod"]', ["did you mean 'environments'?"]),
        ("infra=EcsTask(cpuu=256)", ["EcsTask(...) has no keyword 'cpuu'", "did you mean 'cpu'?"]),
        ('schedules=[Cron("0 9 * * *", timezon="UTC")]', ["Cron(...)", "'timezone'?"]),
    ],
)
def test_a_misspelled_keyword_gets_a_did_you_mean(
    sandbox: Sandbox, config: str, expect: list[str]
) -> None:
    lines = problems(sandbox, config)
    line = one_line_with(lines, *expect)
    assert "fix the import error" not in line and "report.py:" in line, line


def test_a_config_refused_at_import_names_the_model_and_the_rule(sandbox: Sandbox) -> None:
    lines = problems(sandbox, "infra=EcsTask(cpu=256, memory=4096)")
    line = one_line_with(lines, "EcsTask(...) refused: Fargate does not accept cpu=256")
    assert "fix the import error" not in line


def test_an_import_error_that_is_not_a_config_keeps_its_line(sandbox: Sandbox) -> None:
    sandbox.package(PKG, {"report": "import not_a_module_anywhere\n"})
    one_line_with(sandbox.problems("prod"), "raised ModuleNotFoundError", "fix the import error")


@pytest.mark.parametrize(
    ("cron", "wrong", "fix"),
    [
        ("0 25 * * *", "hour 25 is out of range 0-23", "use an hour in 0-23"),
        ("61 * * * *", "minute 61 is out of range 0-59", "use a minute in 0-59"),
        ("0 9 0 * *", "day of month 0 is out of range 1-31", "in 1-31"),
        ("0 9 1-40 * *", "day of month 40 is out of range 1-31", "in 1-31"),
        ("0 9 * 13 *", "month 13 is out of range 1-12", "1-12 or jan-dec"),
        ("0 9 * * 8", "day of week 8 is out of range 0-7", "0-7 or sun-sat"),
        ("0 9 * * 1,9", "day of week 9 is out of range", "sun-sat"),
        ("*/0 * * * *", "minute step '0' is not a positive number", "'*/5'"),
        ("0 9 * * funday", "day of week 'funday' is not a number", "sun-sat"),
        ("0 9 * *", "it has 4 fields, cron takes five", "minute hour day-of-month"),
        ("0 9 * * * * *", "it has 7 fields", "e.g. '0 9 * * *'"),
    ],
)
def test_the_cron_hint_names_the_field_out_of_range(cron: str, wrong: str, fix: str) -> None:
    found_wrong, found_fix = diagnose(cron)
    assert wrong in found_wrong and fix in found_fix, (found_wrong, found_fix)


def test_a_refused_cron_line_says_which_field(sandbox: Sandbox) -> None:
    line = one_line_with(problems(sandbox, 'cron="0 25 * * *"'), "invalid cron '0 25 * * *'")
    assert "hour 25 is out of range 0-23" in line and "use five fields" not in line, line


@pytest.mark.parametrize(
    ("override", "expect"),
    [
        ('{"cron": "0 25 * * *"}', ["field 'overrides.prod.cron'", "hour 25"]),
        ('{"interval": 5}', ["field 'overrides.prod.interval'", "shorter than 60s"]),
        ('{"timezone": "Mars/Base"}', ["field 'overrides.prod.timezone'", "unknown timezone"]),
        ('{"name": "a/b"}', ["field 'overrides.prod.name'", "refuses"]),
        ('{"parameters": {"audiense": 1}}', ["overrides.prod.parameters.audiense", "audience"]),
        ('{"infra": {"memory": 4096}}', ["field 'overrides.prod.infra'", "Fargate does not"]),
    ],
)
def test_an_error_made_by_an_override_names_the_environment(
    sandbox: Sandbox, override: str, expect: list[str]
) -> None:
    config = f'infra=EcsTask(cpu=256, memory=512), overrides={{"prod": {override}}}'
    one_line_with(problems(sandbox, config, "prod"), *expect)
    assert sandbox.problems("dev") == [], "dev has no override: nothing is wrong there"


def test_the_same_error_without_an_override_names_the_field_only(sandbox: Sandbox) -> None:
    one_line_with(problems(sandbox, 'cron="0 25 * * *"'), "field 'cron'", "hour 25")


@pytest.mark.parametrize(
    ("team", "expect"),
    [
        ("Billing Team", "did you mean 'billing-team'?"),
        ("data--eng", "did you mean 'data-eng'?"),
        ("Data_Eng", "did you mean 'data-eng'?"),
        ("sales-flows", "ends in '-flows', which the package name adds (sales-flows-flows)"),
        ("billing", "the workspace already has a package billing-flows"),
        ("b\n[evil]", "team name 'b\\n[evil]' must be"),  # one line, the newline shown
        ("9lives", "a letter first"),
    ],
)
def test_new_says_which_team_name_to_use(team: str, expect: str) -> None:
    found = team_problem(team, {"billing-flows"})
    assert found is not None and expect in found and "\n" not in found, found


def test_new_accepts_a_good_team_name() -> None:
    assert team_problem("data-eng", {"billing-flows"}) is None


@pytest.mark.parametrize(
    ("infra", "known", "expect"),
    [
        ("k8s", ["ecs", "kubernetes", "worker"], "did you mean 'kubernetes'?"),
        ("k8s", ["ecs", "worker"], "(known: ecs, worker)"),
        ("fargate", ["ecs", "worker"], "did you mean 'ecs'?"),
        ("workr", ["ecs", "worker"], "did you mean 'worker'?"),
    ],
)
def test_new_says_which_infra_type_to_use(infra: str, known: list[str], expect: str) -> None:
    found = infra_problem(infra, known)
    assert found is not None and expect in found, found
    assert infra_problem(known[0], known) is None
