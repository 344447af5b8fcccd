"""The files every throwaway project starts from, shared by the three test builders.

- `fleet_sandbox.Sandbox`: packages imported in-process, resolved with no server;
- `deploy_fleet.DeployFleet`: flows declared in-process, planned and deployed to a real
  server through the engine;
- `disk_project.DiskProject`: a package on disk, deployed by the real CLI in a subprocess.

Each writes a uv workspace root that names its project, and its environment files,
through the functions here. Projects that share a server carry a uid in their names,
so they never meet by accident.
"""

from __future__ import annotations

import uuid
from pathlib import Path


def new_uid() -> str:
    return uuid.uuid4().hex[:8]


def write_workspace(root: Path, project: str) -> None:
    """A uv workspace root with no members, whose `[tool.flowfleet]` names `project`."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(
        f'[tool.uv.workspace]\nmembers = []\n\n[tool.flowfleet]\nproject = "{project}"\n'
    )


def write_environments(root: Path, environments: dict[str, str]) -> Path:
    """`infra/environments/<name>.toml` for each name and text; the folder."""
    folder = root / "infra" / "environments"
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in environments.items():
        (folder / f"{name}.toml").write_text(text)
    return folder


def server_environments(api_url: str, pool: str) -> dict[str, str]:
    """`test` and `other`: the same server, worker infrastructure in the project's pool."""
    text = f'api_url = "{api_url}"\ndefault_infra = "worker"\n[pools]\nworker = "{pool}"\n'
    return {"test": text, "other": text}
