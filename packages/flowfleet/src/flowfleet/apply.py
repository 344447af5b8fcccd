"""Apply a plan with Prefect's own client: only what the plan says, each pair once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from flowfleet import secrets
from flowfleet.client import send_write
from flowfleet.desired import DesiredDeployment, Schedule
from flowfleet.errors import describe_error, server_unavailable
from flowfleet.observed import ServerState
from flowfleet.plan import Change, Plan

Status = Literal["created", "updated", "unchanged", "deleted", "failed", "skipped"]
PAST_TENSE: dict[str, Status] = {"create": "created", "update": "updated", "delete": "deleted"}


class Outcome(BaseModel):
    full_name: str
    status: Status
    details: str = ""


class Report(BaseModel):
    environment: str
    api_url: str
    outcomes: list[Outcome] = Field(default_factory=list)
    writes: int = 0
    # Set when the server went away mid-apply: the rest was skipped, not tried one by one.
    aborted: str | None = None

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.aborted

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for outcome in self.outcomes:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
        return counts


def prefect_schedule(schedule: Schedule) -> Any:
    from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule, RRuleSchedule

    if schedule.cron is not None:
        return CronSchedule(cron=schedule.cron, timezone=schedule.timezone)
    if schedule.rrule is not None:
        return RRuleSchedule(rrule=schedule.rrule, timezone=schedule.timezone)
    # A fixed anchor keeps interval runs on the same grid across redeploys.
    anchor = datetime(2020, 1, 1, tzinfo=ZoneInfo(schedule.timezone))
    return IntervalSchedule(
        interval=timedelta(seconds=schedule.interval or 0),
        anchor_date=anchor,
        timezone=schedule.timezone,
    )


def deployment_body(want: DesiredDeployment, flow_id: str, paused: bool) -> dict[str, Any]:
    """The POST /deployments/ body, built and checked with Prefect's own schema.

    The client's `create_deployment()` has no `labels` argument, but the body
    takes them, and they carry flowfleet's ownership marks.
    """
    from prefect.client.schemas.actions import DeploymentCreate, DeploymentScheduleCreate

    schema = want.flow_parameter_schema()
    body = DeploymentCreate(
        name=want.name,
        flow_id=flow_id,
        paused=paused,
        schedules=[
            DeploymentScheduleCreate(schedule=prefect_schedule(s), active=True)
            for s in want.schedules
        ],
        concurrency_limit=want.concurrency_limit,
        parameter_openapi_schema=schema,
        parameters=want.parameters,
        tags=want.tags,
        labels=want.labels,
        pull_steps=want.pull_steps,
        work_pool_name=want.work_pool,
        description=want.description,
        entrypoint=want.entrypoint,
        job_variables=want.job_variables,
        version=want.version,
    )
    data = body.model_dump(mode="json", exclude_unset=True)
    # Prefect 3.9's client schema turns a None description into the string "None".
    data["description"] = want.description
    return data


async def apply_plan(
    plan: Plan,
    desired: dict[str, DesiredDeployment],
    state: ServerState,
    client: Any,
    *,
    concurrency: int = 1,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> Report:
    """Write the plan's creates, updates and deletes; unchanged ones cost no call."""
    report = Report(environment=plan.environment, api_url=plan.api_url)
    report.outcomes.extend(
        Outcome(full_name=c.full_name, status="unchanged") for c in plan.unchanged
    )
    flow_ids = dict(state.flow_ids)
    limit = asyncio.Semaphore(max(1, concurrency))

    total = len(plan.create) + len(plan.update) + len(plan.delete)

    def record(outcome: Outcome) -> None:
        outcome.details = secrets.scrub(outcome.details)  # a 422 may echo a job variable
        report.outcomes.append(outcome)
        if on_outcome:
            on_outcome(outcome)

    def unavailable(exc: BaseException) -> bool:
        """Stop at the first sign the server is gone (the client has retried already):
        one clear line instead of one failure per deployment, and no write left half-tried."""
        if not server_unavailable(exc):
            return False
        if report.aborted is None:
            done = sum(o.status in PAST_TENSE.values() for o in report.outcomes)
            report.aborted = secrets.scrub(
                f"stopped after {done} of {total} changes: {describe_error(exc, plan.api_url)}; "
                "nothing else was attempted, and running the same command again finishes the job"
            )
        return True

    def skip(change: Change, exc: BaseException | None = None) -> None:
        if exc is not None:  # in flight when the server went: it may or may not have landed
            details = f"interrupted: {describe_error(exc, plan.api_url)}"
            record(Outcome(full_name=change.full_name, status="failed", details=details))
        elif not any(o.full_name == change.full_name for o in report.outcomes):
            record(Outcome(full_name=change.full_name, status="skipped", details="not attempted"))

    # Flows first, one call per missing flow name (POST /flows/ returns an existing one).
    writes = plan.create + plan.update
    for flow_name in sorted({desired[c.full_name].flow for c in writes} - set(flow_ids)):
        try:
            report.writes += 1
            response = await send_write(client, "POST", "/flows/", json={"name": flow_name})
            flow_ids[flow_name] = str(response.json()["id"])
        except Exception as exc:
            if unavailable(exc):
                break
            for change in writes:
                if desired[change.full_name].flow == flow_name:
                    record(
                        Outcome(
                            full_name=change.full_name,
                            status="failed",
                            details=f"creating flow '{flow_name}': "
                            f"{describe_error(exc, plan.api_url)}",
                        )
                    )

    async def attempt(change: Change, send: Callable[[], Any], done: Status, details: str) -> None:
        """One write, bounded by the limit; its outcome, or a stop if the server is gone."""
        async with limit:
            if report.aborted:
                return skip(change)
            try:
                report.writes += 1
                response = await send()
                response.raise_for_status()
            except Exception as exc:
                if unavailable(exc):
                    return skip(change, exc)
                if not (done == "deleted" and _not_found(exc)):  # gone is what we wanted
                    details = describe_error(exc, plan.api_url)
                    return record(
                        Outcome(full_name=change.full_name, status="failed", details=details)
                    )
        record(Outcome(full_name=change.full_name, status=done, details=details))

    async def write(change: Change) -> None:
        want = desired[change.full_name]
        if want.flow not in flow_ids:
            if report.aborted:
                skip(change)
            return  # its flow failed above, already reported
        have = state.deployments.get(change.full_name)
        paused = want.paused
        if have is not None and "active" not in change.changes:
            paused = have.paused  # a pause set on the server outlives redeploys
        body = deployment_body(want, flow_ids[want.flow], paused)
        await attempt(
            change,
            lambda: send_write(client, "POST", "/deployments/", json=body),
            PAST_TENSE[change.action],
            ", ".join(change.changes),
        )

    async def delete(change: Change) -> None:
        path = f"/deployments/{change.deployment_id}"
        await attempt(
            change, lambda: send_write(client, "DELETE", path), "deleted", change.reason or ""
        )

    await asyncio.gather(*(write(c) for c in writes), *(delete(c) for c in plan.delete))
    report.outcomes.sort(key=lambda o: o.full_name)
    return report


def _not_found(exc: BaseException) -> bool:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None) == 404
