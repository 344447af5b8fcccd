"""An experiment that only runs in dev until it proves itself."""

from __future__ import annotations

from prefect import flow

from flowfleet import DeploymentConfig
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
