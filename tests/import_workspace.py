"""A scratch uv workspace with one team package whose flows are not decorated yet.

It is what a team has before `flowfleet import`: flow modules and a prefect.yaml
(tests/import_project/), in a workspace member that is a flowfleet team package.
Entry points live in their own group (see tests/cli_in_group.py), so the real CLI
run in a subprocess loads exactly this workspace.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import cli_zygote

PROJECT = Path(__file__).with_name("import_project")
LAUNCHER = Path(__file__).with_name("cli_in_group.py")
GROUP = "flowfleet-import-workspace"

PROD = """\
default_infra = "ecs"
image_registry = "registry.example"

[pools]
ecs = "ecs-prod"
worker = "process-prod"
worker-docker = "docker-prod"
kubernetes = "k8s-prod"
"""

MEMBER = """\
[project]
name = "{team}-flows"
version = "0.1.0"
dependencies = ["flowfleet", "prefect"]

[project.entry-points.flowfleet]
{team} = "{team}_flows:registry"

[tool.flowfleet]
image = "{team}-flows"
default_infra = "{infra}"
"""


class ImportWorkspace:
    def __init__(
        self,
        root: Path,
        api_url: str,
        *,
        team: str = "acme",
        infra: str = "ecs",
        environment: str = PROD,
    ):
        self.root = root
        self.api_url = api_url
        self.team = team
        self.member = root / "flows" / team
        self.package = self.member / "src" / f"{team}_flows"
        self.site = root / "site"
        self.package.mkdir(parents=True)
        (root / "pyproject.toml").write_text(
            f'[tool.uv.workspace]\nmembers = ["flows/{team}"]\n\n'
            f'[tool.flowfleet]\nproject = "import-{team}"\n'
        )
        envs = root / "infra" / "environments"
        envs.mkdir(parents=True)
        (envs / "prod.toml").write_text(environment)
        (self.member / "pyproject.toml").write_text(MEMBER.format(team=team, infra=infra))
        (self.package / "__init__.py").write_text(
            f'"""The {team} team\'s flows."""\n\nfrom flowfleet import Registry\n\n'
            "registry = Registry()\n"
        )
        info = self.site / f"{team}_flows-0.1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {team}-flows\nVersion: 0.1.0\n"
        )
        (info / "entry_points.txt").write_text(
            f"[{GROUP}]\n{team} = {team}_flows:registry\nkubernetes = flowfleet_kubernetes\n"
        )

    def add_acme_project(self) -> Path:
        """The realistic project: its flow modules and prefect.yaml; returns the yaml."""
        for module in (PROJECT / "acme_flows").glob("*.py"):
            shutil.copy(module, self.package / module.name)
        return Path(shutil.copy(PROJECT / "prefect.yaml", self.member / "prefect.yaml"))

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def sources(self) -> dict[str, str]:
        """Every file under the workspace, by relative path: to show nothing changed."""
        return {
            str(p.relative_to(self.root)): p.read_text()
            for p in sorted(self.root.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts and "prefect-home" not in p.parts
        }

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env.update(
            PYTHONPATH=os.pathsep.join([str(self.member / "src"), str(self.site)]),
            FLOWFLEET_ROOT=str(self.root),
            FLOWFLEET_BRANCH="main",
            FLOWFLEET_NO_CACHE="1",
            PREFECT_HOME=str(self.root / "prefect-home"),
            PREFECT_API_URL=self.api_url,
            COLUMNS="200",
        )
        env.update(extra)
        return env

    def run(self, *args: str, cwd: Path | None = None, **extra: str) -> subprocess.CompletedProcess:
        """`flowfleet ARGS`, as a user runs it, loading only this workspace's packages."""
        return cli_zygote.run(
            [str(LAUNCHER), GROUP, *args], env=self.env(**extra), cwd=cwd or self.root
        )
