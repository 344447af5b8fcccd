"""Every bad input from issue 2 gives one clear line: package, flow, field and the fix.

Each case builds its input in a throwaway workspace (see `fleet_sandbox`), collects
the problem lines the CLI would print, and checks that exactly one line carries
every expected fragment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from fleet_sandbox import Sandbox, flow_module
from flowfleet.environments import load_environment
from flowfleet.problems import FlowfleetError

PKG = "acme_flows"


Arrange = Callable[[Sandbox], list[str]]


def config(text: str, signature: str = 'audience: str = "team"', env: str = "prod") -> Arrange:
    """One flow with `DeploymentConfig(<text>)`, resolved in `env`."""

    def arrange(sb: Sandbox) -> list[str]:
        sb.package(PKG, {"report": flow_module(PKG, text, signature)})
        return sb.problems(env)

    return arrange


def environment_file(name: str, text: str | None) -> Arrange:
    """Load environment `name` after writing `text` to its TOML (None: no file)."""

    def arrange(sb: Sandbox) -> list[str]:
        if text is not None:
            (sb.env_dir / f"{name}.toml").write_text(text)
        try:
            load_environment(sb.env_dir, name)
        except FlowfleetError as exc:
            return [str(p) for p in exc.problems]
        return []

    return arrange


def entry_point(
    value: str, modules: dict[str, str] | None = None, files: dict[str, str] | None = None
) -> Arrange:
    """A fake distribution `acme-flows` whose entry point `acme` names `value`."""

    def arrange(sb: Sandbox) -> list[str]:
        sb.package(PKG, modules or {}, register=False)
        for path, text in (files or {}).items():
            sb.write(path, text)
        sb.distribution("acme-flows", {"acme": value})
        sb.load_entry_points()
        return [str(p) for p in sb.fleet().problems]

    return arrange


def duplicate_within_package(sb: Sandbox) -> list[str]:
    module = flow_module(PKG, 'cron="0 9 * * *"').replace(
        "@registry(", '@registry(DeploymentConfig(cron="0 6 * * *"))\n@registry(', 1
    )
    sb.package(PKG, {"report": module})
    return sb.problems()


def duplicate_across_packages(sb: Sandbox) -> list[str]:
    sb.package(PKG, {"report": flow_module(PKG, "")})
    sb.package("other_flows", {"copy": flow_module("other_flows", "")})
    return sb.problems()


def import_raises(sb: Sandbox) -> list[str]:
    sb.package(PKG, {"report": flow_module(PKG, "")})
    sb.package(
        "broken_flows",
        {"good": flow_module("broken_flows", "", flow_name="broken-good"), "bad": BAD_MODULE},
    )
    resolution = sb.resolve()
    listed = {d.full_name for d in resolution.deployments}
    assert listed == {"acme-report/default", "broken-good/default"}, "others still listed"
    return [str(p) for p in resolution.problems]


BAD_MODULE = 'raise RuntimeError("warehouse credentials missing")\n'


def module_raises(text: str) -> Arrange:
    """A package with one good flow and a module `bad` with the given source."""
    return module_raises_in("bad.py", text)


def module_raises_in(path: str, text: str) -> Arrange:
    """A package with one good flow and a file at `path` (inside it) with the given source."""

    def arrange(sb: Sandbox) -> list[str]:
        sb.package(PKG, {"report": flow_module(PKG, "")})
        sb.write(f"{PKG}/{path}", text)
        resolution = sb.resolve()
        assert [d.full_name for d in resolution.deployments] == ["acme-report/default"]
        return [str(p) for p in resolution.problems]

    return arrange


BATCH_UNMARKED = """\
def flowfleet_infra_types():
    return []
"""


@dataclass
class Case:
    id: str
    arrange: Arrange
    expect: list[str]


CASES = [
    Case(
        "duplicate-within-package",
        duplicate_within_package,
        [
            "acme-flows acme-report/default field 'name'",
            "two deployments have this full name in environment 'prod'",
            "fix: give one",
        ],
    ),
    Case(
        "duplicate-across-packages",
        duplicate_across_packages,
        ["acme-report/default", "(acme-flows) and at", "(other-flows)", "fix: give one"],
    ),
    Case(
        "cron-and-interval",
        config('cron="0 9 * * *", interval=60'),
        [
            "acme-flows acme-report/default field 'cron/interval'",
            "at most one of cron, interval, rrule",
            "fix: keep one",
        ],
    ),
    Case(
        "cron-and-rrule",
        config('cron="0 9 * * *", rrule="FREQ=DAILY"'),
        ["acme-report/default field 'cron/rrule'", "at most one of"],
    ),
    Case(
        "invalid-cron",
        config('cron="61 * * * *"'),
        [
            "acme-flows acme-report/default field 'cron'",
            "invalid cron '61 * * * *': minute 61 is out of range 0-59",
            "fix: use a minute in 0-59",
        ],
    ),
    Case(
        "invalid-rrule",
        config('rrule="FREQ=SOMETIMES"'),
        ["acme-report/default field 'rrule'", "invalid rrule 'FREQ=SOMETIMES'", "RFC 5545"],
    ),
    Case(
        "unknown-timezone",
        config('cron="0 9 * * *", timezone="Mars/Olympus"'),
        [
            "acme-report/default field 'timezone'",
            "unknown timezone 'Mars/Olympus'",
            "fix: use an IANA name",
        ],
    ),
    Case(
        "parameter-not-accepted",
        config('parameters={"audiense": "board"}'),
        [
            "acme-flows acme-report/default field 'parameters.audiense'",
            "does not accept parameter 'audiense' (accepted: audience)",
            "fix: did you mean 'audience'?",
        ],
    ),
    Case(
        "parameter-wrong-type",
        config('parameters={"days": "many"}', signature="days: int = 1"),
        ["acme-report/default field 'parameters.days'", "valid integer"],
    ),
    Case(
        "required-parameter-missing",
        config("", signature="audience: str"),
        [
            "acme-report/default field 'parameters.audience'",
            "required flow parameter 'audience' has no value and no default",
            "fix: set parameters={'audience': ...}",
        ],
    ),
    Case(
        "unknown-infra-type",
        config('infra="batch"'),
        [
            "acme-flows acme-report/default field 'infra'",
            "unknown infra type 'batch' (known: ecs, worker)",
            "fix: install the plugin",
        ],
    ),
    Case(
        "unknown-infra-type-as-dict",
        config('infra={"type": "lambda", "memory": 512}'),
        ["field 'infra'", "unknown infra type 'lambda' (known: ecs, worker)"],
    ),
    Case(
        "fargate-pair-rejected",
        config('infra={"type": "ecs", "cpu": 1024, "memory": 1024}'),
        [
            "acme-report/default field 'infra'",
            "Fargate does not accept cpu=1024 with memory=1024",
            "use memory 2048-8192 MiB in steps of 1024",
        ],
    ),
    Case(
        "fargate-cpu-rejected",
        config('infra={"type": "ecs", "cpu": 1000, "memory": 2048}'),
        ["field 'infra'", "Fargate does not accept cpu=1000; use one of 256, 512, 1024"],
    ),
    Case(
        # EcsTask(...) checks itself when the module runs, before any flow exists:
        # the line names the module, the field and the line of the decorator.
        "fargate-pair-rejected-at-import",
        config("infra=EcsTask(cpu=256, memory=4096)"),
        [
            "acme-flows: EcsTask(...) refused:",
            "Fargate does not accept cpu=256 with memory=4096",
            "report.py:",
        ],
    ),
    Case(
        "fargate-256-with-1536",
        config(
            "infra=EcsTask(cpu=256, memory=512), overrides={'prod': {'infra': {'memory': 1536}}}"
        ),
        [
            "acme-report/default field 'overrides.prod.infra'",
            "Fargate does not accept cpu=256 with memory=1536",
            "use memory 512, 1024 or 2048 MiB",
        ],
    ),
    Case(
        "fargate-half-set-size",
        config("infra=EcsTask(cpu=4096)"),
        [
            "acme-report/default field 'infra.cpu'",
            "cpu is set without memory, and prefect-aws then uses memory=2048",
            "Fargate does not accept cpu=4096 with memory=2048",
            "fix: set memory too, e.g. memory=8192",
        ],
    ),
    Case(
        "fargate-half-set-size-in-an-override",
        config("infra=EcsTask(), overrides={'prod': {'infra': {'memory': 512}}}"),
        [
            "acme-report/default field 'overrides.prod.infra.memory'",
            "memory is set without cpu, and prefect-aws then uses cpu=1024",
            "fix: set cpu too, e.g. cpu=256",
        ],
    ),
    Case(
        "unknown-job-variable",
        config("job_variables={'cpuu': 1024}"),
        [
            "acme-report/default field 'job_variables.cpuu'",
            "'cpuu' is not a job variable of the ecs pool's template",
            "fix: did you mean 'cpu'?",
        ],
    ),
    Case(
        "job-variable-of-wrong-type",
        config("job_variables={'cpu': '1024'}"),
        [
            "acme-report/default field 'job_variables.cpu'",
            "cpu is a string ('1024'); the template expects integer",
            "fix: write cpu=1024 (a number, without quotes)",
        ],
    ),
    Case(
        "job-variable-of-wrong-type-in-an-override",
        config("overrides={'prod': {'job_variables': {'vpc_id': 7}}}"),
        [
            "acme-report/default field 'overrides.prod.job_variables.vpc_id'",
            "vpc_id is an integer (7); the template expects string",
        ],
    ),
    Case(
        "network-configuration-without-vpc",
        config("infra=EcsTask(network_configuration={'subnets': ['subnet-a']})"),
        [
            "acme-report/default field 'infra.network_configuration'",
            "network_configuration is set without vpc_id",
            "fix: set vpc_id",
        ],
    ),
    Case(
        "docker-worker-with-working-dir",
        config("infra={'type': 'worker', 'kind': 'docker', 'working_dir': '/srv'}"),
        [
            "acme-report/default field 'infra'",
            "working_dir is a process-worker variable",
        ],
    ),
    Case(
        "memory-zero",
        config('infra={"type": "ecs", "memory": 0}'),
        ["acme-report/default field 'infra.memory'", "greater than 0"],
    ),
    Case(
        "memory-negative-at-import",
        config("infra=EcsTask(memory=-1)"),
        ["acme-flows field 'memory': EcsTask(...) refused:", "greater than 0"],
    ),
    Case(
        "unknown-environment-in---env",
        environment_file("staging", None),
        [
            "unknown environment 'staging'",
            "staging.toml",
            "(known: dev, local, prod)",
            "fix: pick a known environment or create staging.toml",
        ],
    ),
    Case(
        "unknown-environment-in-environments",
        config('environments=["prd"]'),
        [
            "acme-flows acme-report/default field 'environments'",
            "unknown environment 'prd' (known: dev, local, prod)",
            "fix: did you mean 'prod'?",
        ],
    ),
    Case(
        "unknown-environment-in-overrides",
        config('overrides={"staging": {"active": False}}'),
        [
            "acme-report/default field 'overrides.staging'",
            "unknown environment 'staging'",
            "fix: use a known one, or add infra/environments/staging.toml",
        ],
    ),
    Case(
        "override-field-does-not-exist",
        config('overrides={"dev": {"crn": "0 9 * * *"}}', env="dev"),
        [
            "acme-flows acme-report/default field 'overrides.dev.crn'",
            "sets 'crn', which is not a config field",
            "fix: did you mean 'cron'?",
        ],
    ),
    Case(
        "override-value-invalid",
        config('overrides={"dev": {"concurrency_limit": 0}}', env="dev"),
        ["acme-report/default field 'overrides.dev.concurrency_limit'", "greater than 0"],
    ),
    Case(
        "package-import-raises",
        import_raises,
        [
            "broken-flows: importing broken_flows.bad raised RuntimeError: warehouse credentials",
            "bad.py:1]",
            "fix: fix the import error",
        ],
    ),
    Case(
        "module-raises-over-several-lines",
        module_raises('raise ValueError("first line\\n  - second line")\n'),
        ["acme-flows: importing acme_flows.bad raised ValueError: first line; second line"],
    ),
    Case(
        # pkgutil.walk_packages re-imports a failing sub-package and, unless told
        # otherwise, lets its error escape: the whole command would crash.
        "sub-package-import-raises",
        module_raises_in("bad/__init__.py", BAD_MODULE),
        ["acme-flows: importing acme_flows.bad raised RuntimeError", "bad/__init__.py:1]"],
    ),
    Case(
        "module-has-a-syntax-error",
        module_raises("def broken(:\n"),
        ["acme-flows: importing acme_flows.bad raised SyntaxError", "bad.py:1]"],
    ),
    Case(
        "config-field-misspelt-at-import",
        config('crn="0 9 * * *"'),
        [
            "acme-flows field 'crn': DeploymentConfig(...) has no keyword 'crn'",
            "report.py:",
            "fix: did you mean 'cron'?",
        ],
    ),
    Case(
        "package-root-import-raises",
        entry_point("broken_root:registry", files={"broken_root/__init__.py": BAD_MODULE}),
        [
            "acme-flows: entry point 'acme = broken_root:registry' raised on import",
            "RuntimeError: warehouse credentials missing",
            "fix: fix the import error",
        ],
    ),
    Case(
        "entry-point-names-missing-module",
        entry_point("acme_flowz:registry"),
        [
            "acme-flows: entry point 'acme = acme_flowz:registry' names nothing",
            "no module named 'acme_flowz'",
            "fix: point it at a module",
        ],
    ),
    Case(
        "entry-point-names-missing-attribute",
        entry_point("acme_flows:registy"),
        ["acme-flows: entry point 'acme = acme_flows:registy' names nothing", "no attribute"],
    ),
    Case(
        "entry-point-names-a-string",
        entry_point("acme_flows.consts:NAME", {"consts": 'NAME = "acme"\n'}),
        ["acme-flows: entry point", "names a str, which is neither a Registry nor a plugin"],
    ),
    Case(
        "entry-point-names-the-package-not-its-registry",
        entry_point("acme_flows"),
        [
            "entry point 'acme = acme_flows' names a module, which is neither",
            "fix: name the registry: 'acme_flows:registry'",
        ],
    ),
    Case(
        "entry-point-plugin-forgot-hookimpl",
        entry_point("acme_flows.plugin", {"plugin": BATCH_UNMARKED}),
        ["neither a Registry nor a plugin", "fix: decorate flowfleet_infra_types with @flowfleet"],
    ),
    Case(
        "malformed-environment-toml",
        environment_file("prod", 'default_infra = "ecs"\nimage_registry = \n'),
        ["prod.toml:2: malformed TOML", "line 2"],
    ),
    Case(
        "unknown-key-in-environment-toml",
        environment_file("prod", 'default_infra = "ecs"\n\nimage_regsitry = "ghcr.io/acme"\n'),
        [
            "prod.toml:3: unknown key 'image_regsitry'",
            "known: api_url, image_registry",
            "fix: did you mean 'image_registry'?",
        ],
    ),
    Case(
        "bad-value-in-environment-toml",
        environment_file("prod", "[pools]\necs = 3\n"),
        ["prod.toml:1: key 'pools.ecs'", "valid string"],
    ),
    Case(
        "name-key-in-environment-toml",
        environment_file("prod", 'name = "production"\n'),
        ["prod.toml:1: key 'name' is not allowed", "fix: remove it"],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gives_one_clear_line(sandbox: Sandbox, case: Case) -> None:
    problems = case.arrange(sandbox)
    assert problems, "the bad input went unnoticed"
    for line in problems:
        assert "\n" not in line, f"more than one line: {line!r}"
        assert "Traceback" not in line
    matching = [line for line in problems if all(part in line for part in case.expect)]
    assert len(matching) == 1, f"no single line has all of {case.expect}; got:\n" + "\n".join(
        problems
    )


def test_duplicates_name_both_source_locations(sandbox: Sandbox) -> None:
    [line] = duplicate_within_package(sandbox)
    path = sandbox.src / PKG / "report.py"
    decorators = [
        f"{path}:{n}"
        for n, text in enumerate(path.read_text().splitlines(), start=1)
        if text.startswith("@registry(")
    ]
    assert len(decorators) == 2
    for source in decorators:
        assert f"at {source} (acme-flows)" in line


def test_every_problem_is_reported_not_only_the_first(sandbox: Sandbox) -> None:
    sandbox.package(
        PKG,
        {
            "report": flow_module(PKG, 'cron="nope", timezone="Nowhere", parameters={"x": 1}'),
            "other": flow_module(PKG, 'infra="batch"', flow_name="acme-other"),
            "bad": BAD_MODULE,
        },
    )
    fields = [f"field '{f}'" for f in ("timezone", "parameters.x", "infra")] + [
        "importing acme_flows.bad"
    ]
    problems = sandbox.problems()
    for field in fields:
        assert any(field in line for line in problems), (field, problems)


def test_problems_in_one_deployment_leave_the_others_resolved(sandbox: Sandbox) -> None:
    sandbox.package(
        PKG,
        {
            "report": flow_module(PKG, 'cron="0 9 * * *"'),
            "other": flow_module(PKG, 'cron="bad"', flow_name="acme-other"),
        },
    )
    resolution = sandbox.resolve()
    assert [d.full_name for d in resolution.deployments] == ["acme-report/default"]
    assert len(resolution.problems) == 1
