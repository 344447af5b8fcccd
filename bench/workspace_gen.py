"""Generate the synthetic fleet: a real uv workspace of P flow packages with F flows each.

Every package is a workspace member with a `flowfleet` entry point naming its
registry, exactly like `flows/sales` in this repo. The workspace also holds the
blog post's "seed" script (`seed.py`): a hand-kept import list, `to_deployment`,
then one `prefect.deploy()` per work pool.
"""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FLOWFLEET = REPO / "packages" / "flowfleet"
ENV = "bench"
POOLS = {"ecs": "ecs-bench", "worker": "worker-bench"}
IMAGE_REGISTRY = "registry.example"

# Valid Fargate (cpu, memory) pairs, cycled over the ECS flows.
FARGATE = [(256, 512), (512, 1024), (1024, 2048), (1024, 4096), (2048, 8192), (4096, 16384)]
TIMEZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney"]
RRULES = [
    "FREQ=WEEKLY;BYDAY=MO,WE,FR;BYHOUR=7;BYMINUTE=0",
    "FREQ=DAILY;BYHOUR=5;BYMINUTE=30",
    "FREQ=MONTHLY;BYMONTHDAY=1;BYHOUR=2;BYMINUTE=0",
]

# The one-change scenario edits this flow (package 0, flow 0, which has a cron).
CHANGED_CRON_FROM = 'cron="0 0 * * *"'
CHANGED_CRON_TO = 'cron="17 4 * * *"'
CHANGED_CRONS = (CHANGED_CRON_TO, 'cron="18 5 * * *"')  # two edits, each one change


@dataclass(frozen=True)
class Fleet:
    root: Path
    packages: int
    flows: int

    @property
    def deployments(self) -> int:
        return self.packages * self.flows

    @property
    def python(self) -> Path:
        return self.root / ".venv" / "bin" / "python"

    @property
    def flowfleet(self) -> Path:
        return self.root / ".venv" / "bin" / "flowfleet"

    @property
    def changed_file(self) -> Path:
        return self.root / "packages" / "bench000" / "src" / "bench000_flows" / "f000.py"


def package_name(i: int) -> str:
    return f"bench{i:03d}"


def flow_source(i: int, j: int) -> str:
    """One flow module: mixed infra (ECS sizes and the stateful Worker) and schedules."""
    pkg = package_name(i)
    n = i * 1000 + j
    infra_kind = n % 3  # 0, 1: ecs; 2: worker
    if infra_kind == 2:
        infra = "Worker()"
    else:
        cpu, memory = FARGATE[n % len(FARGATE)]
        infra = f"EcsTask(cpu={cpu}, memory={memory})"
    tz = TIMEZONES[n % len(TIMEZONES)]
    schedule_kind = j % 4
    if i == 0 and j == 0:
        schedule = CHANGED_CRON_FROM
    elif schedule_kind == 0:
        schedule = f'cron="{n % 60} {n % 24} * * *"'
    elif schedule_kind == 1:
        schedule = f"interval={300 + 60 * (n % 50)}"
    elif schedule_kind == 2:
        schedule = f'rrule="{RRULES[n % len(RRULES)]}"'
    else:
        schedule = None
    fields = [
        f'description="Synthetic flow {j} of package {pkg}."',
        *([schedule, f'timezone="{tz}"'] if schedule else []),
        f"infra={infra}",
        f'parameters={{"rows": {10 + j}}}',
        f'tags=["bench", "{pkg}"]',
    ]
    if n % 7 == 6:
        fields.append("active=False")
    body = ",\n        ".join(fields)
    return textwrap.dedent(
        f'''\
        """Synthetic flow {j} of {pkg}."""

        from flowfleet import DeploymentConfig, EcsTask, Worker
        from prefect import flow

        from {pkg}_flows import registry


        @registry(
            DeploymentConfig(
                {body},
            )
        )
        @flow(name="{pkg}-f{j:03d}")
        def f{j:03d}(rows: int = 1, label: str = "x") -> int:
            return rows
        '''
    )


def package_pyproject(pkg: str) -> str:
    return textwrap.dedent(
        f"""\
        [project]
        name = "{pkg}-flows"
        version = "0.1.0"
        requires-python = ">=3.11"
        dependencies = ["flowfleet", "prefect>=3.9,<4"]

        [project.entry-points.flowfleet]
        {pkg} = "{pkg}_flows:registry"

        [tool.flowfleet]
        image = "{pkg}-flows"
        default_infra = "ecs"

        [build-system]
        requires = ["hatchling"]
        build-backend = "hatchling.build"

        [tool.hatch.build.targets.wheel]
        packages = ["src/{pkg}_flows"]
        """
    )


ROOT_PYPROJECT = f"""\
[project]
name = "bench-fleet"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = ["flowfleet[aws]", "httpx"]

[tool.uv]
package = false

[tool.uv.workspace]
members = ["packages/*"]

[tool.uv.sources]
flowfleet = {{ path = "{FLOWFLEET}", editable = true }}

[tool.flowfleet]
project = "bench-fleet"
"""

ENV_TOML = """\
api_url = "{api_url}"
image_registry = "{registry}"
default_infra = "ecs"

[pools]
ecs = "{ecs}"
worker = "{worker}"
"""

SEED_TEMPLATE = '''\
"""The blog post's pattern, at fleet scale: the "seed" that flowfleet is measured against.

A hand-kept import list of every flow module, `flow.to_deployment(...)` for each
registration, then one `prefect.deploy(..., build=False, push=False)` per work pool.
Module-path entrypoints match flowfleet's; the process pool gets no image (Prefect
refuses one there).
"""

from collections import defaultdict

from prefect import deploy
from prefect.deployments.runner import EntrypointType
from prefect.schedules import Cron, Interval, RRule

{imports}

IMAGE = "{registry}/bench-fleet:latest"
POOLS = {pools!r}
REGISTRIES = [{registries}]


def schedules(config):
    if config.cron:
        return [Cron(config.cron, timezone=config.timezone)]
    if config.interval:
        return [Interval(config.interval, timezone=config.timezone)]
    if config.rrule:
        return [RRule(config.rrule, timezone=config.timezone)]
    return []


def get_deployments():
    """Return a map of work pool to deployments."""
    deployments = defaultdict(list)
    for registry in REGISTRIES:
        for registration in registry.registrations:
            config = registration.config
            pool = POOLS[config.infra.type]
            deployments[pool].append(
                registration.flow.to_deployment(
                    name=config.name,
                    work_pool_name=pool,
                    paused=not config.active,
                    schedules=schedules(config),
                    parameters=config.parameters,
                    description=config.description,
                    tags=config.tags,
                    job_variables=config.infra.job_variables(),
                    entrypoint_type=EntrypointType.MODULE_PATH,
                )
            )
    return deployments


def register_deployments(deployment_map):
    # Each deploy call has a single work pool name.
    for work_pool, deployments in deployment_map.items():
        deploy(
            *deployments,
            work_pool_name=work_pool,
            image=IMAGE if work_pool == POOLS["ecs"] else None,
            build=False,
            push=False,
            print_next_steps_message=False,
            ignore_warnings=True,
        )


if __name__ == "__main__":
    register_deployments(get_deployments())
'''


def seed_source(packages: int, flows: int) -> str:
    imports = []
    for i in range(packages):
        pkg = package_name(i)
        imports.append(f"import {pkg}_flows")
        imports.extend(f"import {pkg}_flows.f{j:03d}" for j in range(flows))
    registries = ", ".join(f"{package_name(i)}_flows.registry" for i in range(packages))
    return SEED_TEMPLATE.format(
        imports="\n".join(imports) + "  # noqa",
        registry=IMAGE_REGISTRY,
        pools=POOLS,
        registries=registries,
    )


def write_env(root: Path, api_url: str) -> None:
    path = root / "infra" / "environments" / f"{ENV}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        ENV_TOML.format(
            api_url=api_url, registry=IMAGE_REGISTRY, ecs=POOLS["ecs"], worker=POOLS["worker"]
        )
    )


def generate(root: Path, packages: int, flows: int, *, log=print) -> Fleet:
    """Write the workspace (replacing any old copy of its sources) and `uv sync` it."""
    fleet = Fleet(root, packages, flows)
    root.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(root / "packages", ignore_errors=True)
    (root / "pyproject.toml").write_text(ROOT_PYPROJECT)
    write_env(root, "http://127.0.0.1:4200/api")
    for i in range(packages):
        pkg = package_name(i)
        src = root / "packages" / pkg / "src" / f"{pkg}_flows"
        src.mkdir(parents=True)
        (root / "packages" / pkg / "pyproject.toml").write_text(package_pyproject(pkg))
        (src / "__init__.py").write_text(
            f'"""Synthetic flow package {pkg}."""\n\nfrom flowfleet import Registry\n\n'
            "registry = Registry()\n"
        )
        for j in range(flows):
            (src / f"f{j:03d}.py").write_text(flow_source(i, j))
    (root / "seed.py").write_text(seed_source(packages, flows))
    (root / ".gitignore").write_text(".venv/\nstate/\n.state/\nlogs/\nclient-home/\n*.log\n")
    log(f"uv sync in {root} ({packages} packages x {flows} flows)")
    subprocess.run(
        # Bytecode compiled, as a normal install has it after first use; see fleet.py.
        ["uv", "sync", "--all-packages", "--compile-bytecode", "--quiet"],
        cwd=root,
        check=True,
        env=_uv_env(),
    )
    # A git checkout, as in CI: flowfleet reads the branch and hashes package trees.
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
    if not (root / ".git").exists():
        subprocess.run([*git, "init", "-q", "-b", "main"], cwd=root, check=True)
    subprocess.run([*git, "add", "-A"], cwd=root, check=True)
    subprocess.run(
        [*git, "commit", "-q", "--allow-empty", "-m", "synthetic fleet"], cwd=root, check=True
    )
    return fleet


def _uv_env() -> dict[str, str]:
    import os

    drop = ("VIRTUAL_ENV", "UV_PROJECT", "PYTHONDONTWRITEBYTECODE")
    return {k: v for k, v in os.environ.items() if k not in drop}
