"""Sync campaign stats on the long-running worker, which keeps a warm local cache.

Besides its hourly schedule, it runs each time the sales team's ETL completes
(a cross-team trigger: `flowfleet graph --env dev` draws it).
"""

from __future__ import annotations

from prefect import flow, task

from flowfleet import DeploymentConfig, Worker, after
from marketing_flows import registry


@task
def fetch_stats(channel: str, lookback_days: int) -> dict:
    return {"channel": channel, "days": lookback_days, "clicks": 42 * lookback_days}


@registry(
    DeploymentConfig(
        interval=3600,
        infra=Worker(),
        parameters={"channels": ["email", "social"], "lookback_days": 1},
        tags=["marketing"],
        triggers=[after("sales-etl/default", state="Completed")],
        overrides={
            "dev": {"active": False},
            "prod": {"parameters": {"channels": ["email", "social", "search"], "lookback_days": 3}},
        },
    )
)
@flow(name="marketing-campaign-sync")
def campaign_sync(channels: list[str], lookback_days: int = 1) -> list[dict]:
    """Pull the latest numbers for each channel."""
    return [fetch_stats(channel, lookback_days) for channel in channels]
