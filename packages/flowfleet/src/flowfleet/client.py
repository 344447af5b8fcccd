"""One Prefect client per command, pointed at the environment's API.

The API key comes only from the process environment (PREFECT_API_KEY) and is
never printed or written anywhere.
"""

from __future__ import annotations

import os
from typing import Any

from flowfleet.environments import Environment
from flowfleet.problems import FlowfleetError, Problem


def api_url_for(environment: Environment) -> str:
    url = environment.effective_api_url()
    if not url:
        raise FlowfleetError(
            Problem(
                f"no Prefect API URL for environment '{environment.name}'",
                fix=f"set PREFECT_API_URL or api_url in infra/environments/{environment.name}.toml",
            )
        )
    return url.rstrip("/")


def prefect_client(api_url: str) -> Any:
    from prefect.client.orchestration import PrefectClient

    return PrefectClient(api=api_url, api_key=os.environ.get("PREFECT_API_KEY"))
