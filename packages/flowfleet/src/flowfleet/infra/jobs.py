"""`flowfleet render`: the job a worker would submit for a deployment, built by the worker.

The worker's own job-configuration class fills the pool's base job template with the
deployment's job variables (`from_template_and_values`) and prepares it for a flow run
(`prepare_for_flow_run`), exactly as it does when a run arrives; the infra type then
shows what the worker submits (`InfraConfig.render_job`). No server and no cloud API is
called, nothing is written, and secret values are masked.
"""

from __future__ import annotations

import asyncio
import os
from contextlib import ExitStack
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from flowfleet import secrets
from flowfleet.desired import DesiredDeployment
from flowfleet.infra.base import InfraConfig
from flowfleet.infra.templates import stock_template
from flowfleet.problems import FlowfleetError, Problem

# The run a rendered job is for: a fixed, visibly made-up id and name.
FLOW_RUN_ID = UUID(int=0)
FLOW_RUN_NAME = "example-flow-run"
# A client the worker's code is handed but never uses: only block and variable
# references in a template make it call the server, and those are refused first.
UNUSED_API = "http://flowfleet-render.invalid/api"


def render_job(
    deployment: DesiredDeployment,
    infra_type: type[InfraConfig],
    *,
    api_url: str | None = None,
    template: dict[str, Any] | None = None,
    server: str | None = None,
) -> dict[str, Any]:
    """The job for one flow run of `deployment`, secrets masked.

    `template` defaults to the stock template of the deployment's pool type; `api_url`
    is the `PREFECT_API_URL` the job is given (the worker passes on its own). With
    `server` (an API URL), block and variable references in the template are read
    from that server, as the worker reads them; without it, they are refused.
    """
    pool_type = deployment.pool_type
    source = "server" if template else "stock"
    template = template or stock_template(infra_type, pool_type)
    worker_class = _worker_class(infra_type, pool_type)
    if not template or worker_class is None:
        raise FlowfleetError(
            Problem(
                f"cannot render a job for a '{pool_type}' pool: no worker class is known for it",
                deployment.package,
                deployment.full_name,
                "infra",
                "install the plugin or worker package that provides this pool type",
            )
        )
    if server is None:
        _refuse_server_references(deployment, template)
    values = dict(deployment.job_variables)
    flow_run, api_flow, api_deployment, work_pool = _context(deployment, template)
    with ExitStack() as stack:
        stack.enter_context(_worker_settings(api_url, values, template))
        configuration = asyncio.run(_configuration(worker_class, template, values, server))
        configuration.prepare_for_flow_run(
            flow_run, deployment=api_deployment, flow=api_flow, work_pool=work_pool
        )
        if infra_type.pool_type == pool_type and infra_type.worker_class() is not None:
            job = infra_type.render_job(configuration, flow_run, work_pool)
        else:
            job = _stateful_job(configuration, pool_type, values.get("env") or {})
    return {
        "deployment": deployment.full_name,
        "work_pool": deployment.work_pool,
        "pool_type": pool_type,
        "worker": f"{worker_class.__module__}.{worker_class.__name__}",
        "template": source,
        "job": secrets.mask(job),  # env lists' name/value pairs too
    }


def _worker_class(infra_type: type[InfraConfig], pool_type: str) -> type | None:
    if pool_type == "process":
        from prefect.workers.process import ProcessWorker

        return ProcessWorker
    if pool_type == "docker":
        from prefect_docker.worker import DockerWorker

        return DockerWorker
    return infra_type.worker_class() if infra_type.pool_type == pool_type else None


def _refuse_server_references(deployment: DesiredDeployment, template: dict[str, Any]) -> None:
    from prefect.utilities.templating import PlaceholderType, find_placeholders

    kinds = {PlaceholderType.BLOCK_DOCUMENT, PlaceholderType.VARIABLE}
    found = [
        p.name
        for p in find_placeholders([template.get("job_configuration"), deployment.job_variables])
        if p.type in kinds
    ]
    if found:
        raise FlowfleetError(
            Problem(
                f"the job refers to server objects ({', '.join(sorted(set(found)))}); "
                "render reads no server",
                deployment.package,
                deployment.full_name,
                "job_variables",
                "render a template without block or variable references",
            )
        )


async def _configuration(
    worker_class: type, template: dict[str, Any], values: dict[str, Any], server: str | None
) -> Any:
    from prefect.client.orchestration import PrefectClient

    from flowfleet.connection import Connection

    build = worker_class.job_configuration.from_template_and_values
    if server is None:
        return await build(template, values, client=PrefectClient(api=UNUSED_API))
    # The worker's own code resolves block and variable references with Prefect's client;
    # it gets flowfleet's connection (credential, TLS, headers) so it reaches the same server.
    connection = Connection.to(server)
    headers = dict(connection.headers)
    if connection.auth_header:
        headers["Authorization"] = connection.auth_header
    httpx_settings = {"headers": headers, "verify": connection.verify}
    async with PrefectClient(api=server, httpx_settings=httpx_settings) as client:
        return await build(template, values, client=client)


def _context(deployment: DesiredDeployment, template: dict[str, Any]) -> tuple[Any, ...]:
    """The flow run, flow, deployment and pool the worker would hold, with stable ids."""
    from prefect.client.schemas.objects import Flow, FlowRun, WorkPool
    from prefect.client.schemas.responses import DeploymentResponse

    flow = Flow(id=uuid5(NAMESPACE_URL, f"flowfleet:flow:{deployment.flow}"), name=deployment.flow)
    api_deployment = DeploymentResponse(
        id=uuid5(NAMESPACE_URL, f"flowfleet:deployment:{deployment.full_name}"),
        name=deployment.name,
        flow_id=flow.id,
        work_pool_name=deployment.work_pool,
        entrypoint=deployment.entrypoint,
        tags=deployment.tags,
        labels=deployment.labels,
        job_variables=deployment.job_variables,
    )
    flow_run = FlowRun(
        id=FLOW_RUN_ID,
        name=FLOW_RUN_NAME,
        flow_id=flow.id,
        deployment_id=api_deployment.id,
        work_pool_name=deployment.work_pool,
        parameters=deployment.parameters,
        tags=deployment.tags,
    )
    pool = WorkPool(
        name=deployment.work_pool, type=deployment.pool_type, base_job_template=template
    )
    return flow_run, flow, api_deployment, pool


def _worker_settings(api_url: str | None, values: dict[str, Any], template: dict) -> Any:
    """The settings the job inherits from its worker: the environment's API URL.

    prefect-aws removes the worker's PREFECT_API_KEY from the task when the key comes
    from a secret ARN (a job variable, or the pool's default for it), and fails if the
    worker has none: the job shows the secret.
    """
    from prefect.settings import PREFECT_API_KEY, PREFECT_API_URL, temporary_settings

    updates: dict[Any, Any] = {}
    if api_url:
        updates[PREFECT_API_URL] = api_url
    declared = template.get("variables", {}).get("properties", {})
    arn = values.get("prefect_api_key_secret_arn")
    arn = arn or declared.get("prefect_api_key_secret_arn", {}).get("default")
    if arn and not PREFECT_API_KEY.value():
        updates[PREFECT_API_KEY] = "replaced-by-the-secret"
    return temporary_settings(updates=updates)


def _stateful_job(configuration: Any, pool_type: str, declared: dict[str, Any]) -> dict[str, Any]:
    """A process or docker worker's job: the command and the environment it adds."""
    data = configuration.model_dump(mode="json", exclude_none=True)
    if pool_type == "process":
        # The process worker passes its whole environment on; show what the job adds.
        data["env"] = {
            k: v
            for k, v in (data.get("env") or {}).items()
            if k.startswith("PREFECT") or k in declared or os.environ.get(k) != v
        }
        data["note"] = "the command runs with the worker host's environment plus env"
    return data
