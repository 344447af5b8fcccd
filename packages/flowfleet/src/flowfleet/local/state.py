"""Where the local services keep their files: one ignored folder, `.state/` by default.

It is also PREFECT_HOME for every process started here, so the server's SQLite database,
profiles and result storage never touch the user's own Prefect profile.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from flowfleet.devserver import HOST


@dataclass(frozen=True)
class StateDir:
    root: Path

    @classmethod
    def at(cls, path: str | Path) -> StateDir:
        root = Path(path).resolve()
        root.mkdir(parents=True, exist_ok=True)
        return cls(root)

    @property
    def home(self) -> Path:
        """PREFECT_HOME: holds prefect.db and server.log (see `flowfleet.devserver`)."""
        return self.root

    def pidfile(self, name: str) -> Path:
        return self.root / f"{name}.pid"

    def log(self, name: str) -> Path:
        return self.root / f"{name}.log"

    def pidfiles(self) -> list[Path]:
        return sorted(self.root.glob("*.pid"))

    def prefect_env(self, api_url: str, **settings: str) -> dict[str, str]:
        """This process's environment minus the user's PREFECT_* settings, pointed at `api_url`."""
        # A remote environment's worker needs its credential; never written.
        keep = ("PREFECT_API_KEY", "PREFECT_API_AUTH_STRING")
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_") or k in keep}
        env.update(PREFECT_HOME=str(self.home), PREFECT_API_URL=api_url, **settings)
        return env


def local_api_url(port: int) -> str:
    return f"http://{HOST}:{port}/api"


def ui_url(port: int) -> str:
    return f"http://{HOST}:{port}"
