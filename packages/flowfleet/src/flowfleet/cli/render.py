"""`flowfleet render`: the job a worker would submit for one deployment. Reads no server."""

from __future__ import annotations

import asyncio
from enum import StrEnum

import typer

from flowfleet.cli import app, fail
from flowfleet.cli.inspect import ENV_OPTION
from flowfleet.json_output import print_json
from flowfleet.lookup import find_deployment
from flowfleet.problems import FlowfleetError, Problem
from flowfleet.session import Session


class RenderFormat(StrEnum):
    yaml = "yaml"
    json = "json"


class TemplateSource(StrEnum):
    declared = "declared"
    stock = "stock"
    server = "server"


@app.command()
def render(
    name: str = typer.Argument(..., help="flow/deployment, or a deployment or flow name."),
    env: str = ENV_OPTION,
    output: RenderFormat = typer.Option(RenderFormat.yaml, "--output", "-o"),
    template: TemplateSource = typer.Option(
        TemplateSource.declared,
        "--template",
        help="declared: the environment's [pools.<key>] template, else stock; stock: the "
        "worker's default template, no server; server: the pool's, read.",
    ),
) -> None:
    """Show the job the worker will submit for NAME, built by the worker's own code.

    ECS: the task definition and the RunTask request; Kubernetes: the Job manifest;
    process: the command and environment. Secrets are masked; nothing is written.
    """
    from flowfleet.infra.jobs import render_job

    session = Session()
    environment = session.environment(env)
    resolution = session.resolve(environment)
    try:
        deployment = find_deployment(resolution.deployments, environment, None, name)
    except FlowfleetError as exc:  # a deployment that did not resolve says why, first
        mine = [p for p in resolution.problems if p.flow and name in p.flow]
        raise fail(*(mine or exc.problems)) from None
    infra_type = session.fleet.plugins.infra_types.types[deployment.infra]
    api_url = environment.effective_api_url()
    if template is TemplateSource.server:
        from flowfleet.connection import api_url_for

        server = api_url_for(environment)
        pool_template = asyncio.run(read_pool_template(server, deployment.work_pool))
        job = render_job(
            deployment, infra_type, api_url=api_url, template=pool_template, server=server
        )
    else:
        declared = None
        if template is TemplateSource.declared:
            declared = declared_template(environment, deployment, infra_type)
        job = render_job(deployment, infra_type, api_url=api_url, template=declared)
        if declared is not None:
            job["template"] = "declared"
    if output is RenderFormat.json:
        print_json(job)
    else:
        import yaml

        print(yaml.safe_dump(job, sort_keys=False, width=100), end="")


def declared_template(environment, deployment, infra_type) -> dict | None:
    """The pool's template as `[pools.<key>]` declares it (stock merged), None if undeclared."""
    from flowfleet.infra.templates import stock_template
    from flowfleet.pool_spec import declared_key

    key = declared_key(environment, deployment.work_pool, deployment.package)
    if key is None:
        return None
    settings = environment.pools[key]
    return settings.merged_template(
        settings.template_content or stock_template(infra_type, deployment.pool_type)
    )


async def read_pool_template(api_url: str, pool: str) -> dict:
    """The pool's base job template as the server holds it (one read, nothing written)."""
    from flowfleet.client import ApiClient
    from flowfleet.errors import describe_error

    async with ApiClient(api_url) as reader:
        try:
            response = await reader.request("GET", f"/work_pools/{pool}")
        except Exception as exc:
            raise FlowfleetError(describe_error(exc, api_url)) from None
    if response.status_code == 404:
        raise FlowfleetError(
            Problem(
                f"work pool '{pool}' does not exist at {api_url}",
                fix="create it with `flowfleet pools`, or render with --template stock",
            )
        )
    if response.status_code != 200:  # a refused credential too: one line naming the server
        try:
            response.raise_for_status()
        except Exception as exc:
            raise FlowfleetError(describe_error(exc, api_url)) from None
        raise FlowfleetError(f"GET {api_url}/work_pools/{pool} answered {response.status_code}")
    return response.json()["base_job_template"]
