"""A throwaway project on disk, deployed by the real CLI in a subprocess.

The flow package is a real module under `site/` with a fake dist-info whose entry
points live in their own group, and `tests/cli_in_group.py` runs flowfleet's own
`main()` with that group, so the workspace's installed packages stay out and the
run deploys exactly this project. Flow names carry a uid, so projects sharing a
server never meet by accident.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import cli_zygote
from project_files import new_uid, server_environments, write_environments, write_workspace

GROUP = "flowfleet-disk-project"
LAUNCHER = Path(__file__).with_name("cli_in_group.py")

FLOW = """

@registry(DeploymentConfig(name="d{j}", cron="{minute} {hour} * * *"{extra}))"""


class DiskProject:
    def __init__(
        self,
        root: Path,
        api_url: str,
        *,
        flows: int = 12,
        per_flow: int = 5,
        project: str | None = None,
        uid: str | None = None,
        extra: str = "",
    ):
        self.uid = uid or new_uid()
        self.root = root
        self.api_url = api_url
        self.project = project or f"disk-{self.uid}"
        self.package = f"disk_{self.uid}_flows"
        self.pool = f"proc-{self.uid}"
        self.site = root / "site"
        write_workspace(root, self.project)
        write_environments(root, server_environments(api_url, self.pool))
        pkg = self.site / self.package
        pkg.mkdir(parents=True, exist_ok=True)
        (pkg / "__init__.py").write_text(
            "from flowfleet import Registry\n\nregistry = Registry()\n"
        )
        info = self.site / f"{self.package}-0.1.0.dist-info"
        info.mkdir(exist_ok=True)
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: disk-{self.uid}-flows\nVersion: 0.1.0\n"
        )
        (info / "entry_points.txt").write_text(f"[{GROUP}]\nteam = {self.package}:registry\n")
        self.write_flows(flows, per_flow, extra)

    def flow_name(self, i: int) -> str:
        return f"f{i:02d}-{self.uid}"

    def full_names(self, flows: int, per_flow: int) -> set[str]:
        return {f"{self.flow_name(i)}/d{j}" for i in range(flows) for j in range(per_flow)}

    def write_flows(self, flows: int, per_flow: int, extra: str = "") -> None:
        """`flows` flows with `per_flow` deployments each; `extra` is added to every config."""
        lines = [
            "from prefect import flow\n",
            "from flowfleet import DeploymentConfig, EcsTask, Worker",
            f"from {self.package} import registry\n",
        ]
        for i in range(flows):
            for j in range(per_flow):
                lines.append(FLOW.format(j=j, minute=j, hour=i % 24, extra=extra).lstrip("\n"))
            lines.append(f'@flow(name="{self.flow_name(i)}")\ndef f{i:02d}(days: int = 1) -> None:')
            lines.append("    pass\n\n")
        (self.site / self.package / "flows.py").write_text("\n".join(lines))
        # A rewritten module must not be served from a stale bytecode cache.
        for cached in (self.site / self.package).glob("__pycache__/flows*"):
            cached.unlink()

    def env(self, **extra: str | None) -> dict[str, str]:
        """The run's process environment; an `extra` value of None removes that variable
        (PREFECT_CLIENT_MAX_RETRIES=None runs with Prefect's and flowfleet's defaults)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env.update(
            PYTHONPATH=str(self.site),
            FLOWFLEET_ROOT=str(self.root),
            FLOWFLEET_BRANCH="main",
            FLOWFLEET_NO_CACHE="1",
            PREFECT_HOME=str(self.root / "prefect-home"),
            PREFECT_API_URL=self.api_url,
            PREFECT_CLIENT_MAX_RETRIES="1",
            PREFECT_API_REQUEST_TIMEOUT="10",
            COLUMNS="200",
        )
        env.update(extra)
        return {key: value for key, value in env.items() if value is not None}

    def run(
        self, *args: str, timeout: float = 180, **extra: str | None
    ) -> subprocess.CompletedProcess:
        return cli_zygote.run(
            [str(LAUNCHER), GROUP, *args], env=self.env(**extra), cwd=self.root, timeout=timeout
        )

    def popen(self, *args: str, **extra: str | None) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, str(LAUNCHER), GROUP, *args],
            env=self.env(**extra),
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=_ctrl_c_as_in_a_terminal,
        )


def _ctrl_c_as_in_a_terminal() -> None:
    """SIGINT back to its default in the child, as a terminal's foreground job has it. A
    suite started in the background by a shell without job control (`nohup make test &`)
    inherits SIGINT ignored, and Python then installs no KeyboardInterrupt handler: the
    test's Ctrl-C would be ignored, and the deploy would run to its end."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")
