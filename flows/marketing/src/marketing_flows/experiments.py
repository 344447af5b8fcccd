"""An experiment that only runs in dev until it proves itself."""

from __future__ import annotations

from flowfleet import DeploymentConfig
from prefect import flow

from marketing_flows import registry


@registry(
    DeploymentConfig(
        name="dev-trial",
        cron="*/30 * * * *",
        environments=["dev"],
        tags=["marketing", "experiment"],
    )
)
@flow(name="marketing-attribution-experiment")
def attribution_experiment(model: str = "last-touch") -> str:
    """Try an attribution model on a sample."""
    return model
