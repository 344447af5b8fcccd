"""Keep only the active customers: load JSON, filter, save."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

from prefect import flow, task

from flowfleet import Cron, DeploymentConfig, EcsTask
from sales_flows import registry

SAMPLE_DATA = str(files("sales_flows") / "data" / "customers.json")


@task
def load_data(data_path: str) -> list[dict]:
    return json.loads(Path(data_path).read_text())


@task
def filter_data(data: list[dict]) -> list[dict]:
    return [item for item in data if item.get("active")]


@task
def save_data(data: list[dict], output_path: str) -> str:
    path = Path(output_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
    return str(path.resolve())


@registry(
    DeploymentConfig(
        description="Daily extract of the active customers.",
        cron="0 9 * * *",
        timezone="Europe/London",
        infra=EcsTask(cpu=1024, memory=2048),
        parameters={"output_path": "output/active_customers.json"},
        tags=["sales", "etl"],
    )
)
@registry(
    DeploymentConfig(
        name="weekly-archive",
        description="Weekly copy kept for the finance archive, and a monthly one.",
        schedules=[
            Cron("0 6 * * 1", slug="weekly"),
            # The monthly copy goes to its own file: this schedule's own parameters.
            Cron(
                "0 6 1 * *",
                slug="monthly",
                parameters={"output_path": "output/archive/active_customers_monthly.json"},
            ),
        ],
        timezone="Europe/London",
        infra=EcsTask(cpu=512, memory=1024),
        parameters={"output_path": "output/archive/active_customers_weekly.json"},
        tags=["sales", "archive"],
    )
)
@flow(name="sales-etl", log_prints=True)
def filter_active(data_path: str = SAMPLE_DATA, output_path: str = "active.json") -> dict:
    """Keep the active customers from a JSON list and write them out."""
    raw = load_data(data_path)
    active = filter_data(raw)
    written = save_data(active, output_path)
    print(f"kept {len(active)} of {len(raw)} records, written to {written}")
    return {"kept": len(active), "total": len(raw), "output_path": written}
