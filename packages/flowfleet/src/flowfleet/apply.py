"""Apply a plan with Prefect's own client: only what the plan says, each pair once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from itertools import chain, islice
from typing import Any, Literal

from pydantic import BaseModel, Field

from flowfleet import secrets, write_concurrency
from flowfleet.client import send_write
from flowfleet.desired import DesiredDeployment
from flowfleet.errors import describe_error, server_unavailable
from flowfleet.observed import ServerState
from flowfleet.plan import Change, Plan
from flowfleet.write_concurrency import TRIAL, WRITERS

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
    writers: write_concurrency.Writers | None = None  # writes in flight, and why

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
            DeploymentScheduleCreate(
                schedule=s.to_prefect(),
                active=s.active,
                parameters=s.parameters,
                slug=s.slug,
                max_scheduled_runs=s.max_scheduled_runs,
            )
            for s in want.schedules
        ],
        concurrency_limit=want.concurrency_limit,
        **want.optional_fields(),
        parameter_openapi_schema=schema,
        parameters=want.parameters,
        tags=want.tags,
        labels={**want.user_labels, **want.labels},  # flowfleet's own win
        pull_steps=want.pull_steps,
        work_pool_name=want.work_pool,
        work_queue_name=want.work_queue,
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
    **options: Any,
) -> Report:
    """Write the plan's creates, updates and deletes; unchanged ones cost no call.

    `options`: `concurrency` (writes in flight; None is `auto`) and `on_outcome` (a
    progress callback).
    """
    return await Applier(plan, desired, state, client, **options).run()


class Applier:
    """One plan's writes and their report: flows first, then deployments and deletes.

    The first sign that the server is gone (after the client's own retries) stops the
    run: one clear line instead of one failure per deployment, nothing left half-tried.
    """

    def __init__(
        self,
        plan: Plan,
        desired: dict[str, DesiredDeployment],
        state: ServerState,
        client: Any,
        *,
        concurrency: int | None = 1,
        on_outcome: Callable[[Outcome], None] | None = None,
    ) -> None:
        self.plan = plan
        self.desired = desired
        self.state = state
        self.client = client
        self.on_outcome = on_outcome
        self.report = Report(environment=plan.environment, api_url=plan.api_url)
        self.flow_ids = dict(state.flow_ids)
        self.concurrency = concurrency
        self.recorded: set[str] = set()  # names with an outcome from this run's writes
        self.total = len(plan.create) + len(plan.update) + len(plan.delete)

    async def run(self) -> Report:
        plan, report = self.plan, self.report
        report.outcomes.extend(
            Outcome(full_name=c.full_name, status="unchanged") for c in plan.unchanged
        )
        writes = plan.create + plan.update
        writers = await write_concurrency.decide(self.client, self.concurrency, writes=self.total)
        flows = sorted({self.desired[c.full_name].flow for c in writes} - set(self.flow_ids))
        await self.in_turns(((self.create_flow, (name, writes)) for name in flows), writers.count)
        jobs = chain(((self.write, c) for c in writes), ((self.delete, c) for c in plan.delete))
        if writers.wants_trial:  # a near server: do several writers pay? (write_concurrency)
            alone = await self.timed(islice(jobs, TRIAL), 1)
            together = await self.timed(islice(jobs, TRIAL), WRITERS)
            writers = write_concurrency.after_trial(writers, alone, together)
        report.writers = writers
        await self.in_turns(jobs, writers.count)
        report.outcomes.sort(key=lambda o: o.full_name)
        return report

    async def timed(self, jobs: Iterator[tuple[Callable[[Any], Any], Any]], count: int) -> float:
        """Milliseconds per job, `jobs` run by `count` writers."""
        started = time.perf_counter()
        await self.in_turns(jobs, count)
        return (time.perf_counter() - started) * 1000 / TRIAL

    async def in_turns(self, jobs: Iterator[tuple[Callable[[Any], Any], Any]], count: int) -> None:
        """`count` writers, each taking the next job when it is free.

        One task per change, held back by a semaphore, kept every waiting change's task
        and frames alive at once: 22 MB at 10,000 changes for the bare pattern
        (tracemalloc), on the command that peaked highest (a first deploy at 10,000).
        """

        async def writer() -> None:
            for job, item in jobs:
                await job(item)

        await asyncio.gather(*(writer() for _ in range(count)))

    def record(self, outcome: Outcome) -> None:
        outcome.details = secrets.scrub(outcome.details)  # a 422 may echo a job variable
        self.report.outcomes.append(outcome)
        self.recorded.add(outcome.full_name)
        if self.on_outcome:
            self.on_outcome(outcome)

    def fail(self, change: Change, details: str) -> None:
        self.record(Outcome(full_name=change.full_name, status="failed", details=details))

    def unavailable(self, exc: BaseException) -> bool:
        """True (and the run stopped) when the server, not the request, failed."""
        if not server_unavailable(exc):
            return False
        report = self.report
        if report.aborted is None:
            done = sum(o.status in PAST_TENSE.values() for o in report.outcomes)
            report.aborted = secrets.scrub(
                f"stopped after {done} of {self.total} changes: "
                f"{describe_error(exc, self.plan.api_url)}; "
                "nothing else was attempted, and running the same command again finishes the job"
            )
        return True

    def skip(self, change: Change, exc: BaseException | None = None) -> None:
        if exc is not None:  # in flight when the server went: it may or may not have landed
            self.fail(change, f"interrupted: {describe_error(exc, self.plan.api_url)}")
        elif change.full_name not in self.recorded:  # scanning the outcomes: O(n²) after an abort
            self.record(
                Outcome(full_name=change.full_name, status="skipped", details="not attempted")
            )

    async def create_flow(self, job: tuple[str, list[Change]]) -> None:
        """One call per missing flow name (POST /flows/ returns an existing one)."""
        flow_name, writes = job
        if self.report.aborted:
            return
        try:
            self.report.writes += 1
            response = await send_write(self.client, "POST", "/flows/", json={"name": flow_name})
            self.flow_ids[flow_name] = str(response.json()["id"])
        except Exception as exc:
            if self.unavailable(exc):
                return
            details = f"creating flow '{flow_name}': {describe_error(exc, self.plan.api_url)}"
            for change in writes:
                if self.desired[change.full_name].flow == flow_name:
                    self.fail(change, details)

    async def attempt(
        self, change: Change, send: Callable[[], Any], done: Status, details: str
    ) -> None:
        """One write; its outcome, or a stop if the server is gone."""
        if self.report.aborted:
            return self.skip(change)
        try:
            self.report.writes += 1
            response = await send()
            response.raise_for_status()
        except Exception as exc:
            if self.unavailable(exc):
                return self.skip(change, exc)
            if not (done == "deleted" and _not_found(exc)):  # gone is what we wanted
                return self.fail(change, describe_error(exc, self.plan.api_url))
        self.record(Outcome(full_name=change.full_name, status=done, details=details))

    async def write(self, change: Change) -> None:
        want = self.desired[change.full_name]
        if want.flow not in self.flow_ids:
            if self.report.aborted:
                self.skip(change)
            return  # its flow failed above, already reported
        have = self.state.deployments.get(change.full_name)
        paused = want.paused
        if have is not None and "active" not in change.changes:
            paused = have.paused  # a pause set on the server outlives redeploys
        flow_id = self.flow_ids[want.flow]
        await self.attempt(  # the body is built inside: one that cannot be built fails alone
            change,
            lambda: send_write(
                self.client, "POST", "/deployments/", json=deployment_body(want, flow_id, paused)
            ),
            PAST_TENSE[change.action],
            ", ".join(change.changes),
        )

    async def delete(self, change: Change) -> None:
        path = f"/deployments/{change.deployment_id}"
        await self.attempt(
            change,
            lambda: send_write(self.client, "DELETE", path),
            "deleted",
            change.reason or "",
        )


def _not_found(exc: BaseException) -> bool:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None) == 404
