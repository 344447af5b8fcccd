"""The weekly report goes out on US business days, so it runs on New York time."""

from __future__ import annotations

from prefect import flow

from flowfleet import DeploymentConfig, EcsTask
from marketing_flows import registry


@registry(
    DeploymentConfig(
        rrule="FREQ=WEEKLY;BYDAY=MO,WE,FR;BYHOUR=8;BYMINUTE=30",
        timezone="America/New_York",
        infra=EcsTask(cpu=512, memory=2048),
        parameters={"audience": "leadership"},
        tags=["marketing", "reports"],
    )
)
@flow(name="marketing-weekly-report")
def weekly_report(audience: str = "team") -> str:
    """Assemble the campaign report for one audience."""
    return f"report for {audience}"
