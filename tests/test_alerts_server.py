"""A package's alerts end to end: a failed run on a real process worker reaches a webhook.

The test plays both sides a team sees: it makes the notification block itself (a
`CustomWebhookNotificationBlock` posting to a loopback receiver in this test, as a
team would point one at Slack), declares owners and alerts in the package's
pyproject.toml, deploys with the real CLI, and runs a flow that fails on the demo's
process worker. The server's own triggers and actions services send the alert.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from disk_project import DiskProject, dedent, error_lines
from flowfleet.devserver import HOST, LocalServer
from flowfleet.local import pidfile
from flowfleet.local.state import StateDir
from flowfleet.local.worker import ensure_worker, worker_name

pytestmark = [pytest.mark.server, pytest.mark.slow]

ALERT_TIMEOUT = 240  # a worker start, a flow-run process and the server's services, shared CPU


@pytest.fixture
def receiver() -> Iterator[tuple[str, queue.Queue]]:
    """A loopback HTTP endpoint that queues every JSON body posted to it."""
    received: queue.Queue = queue.Queue()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            received.put(json.loads(self.rfile.read(length) or b"{}"))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((HOST, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_port}/alerts", received
    finally:
        server.shutdown()
        server.server_close()


def save_webhook_block(api_url: str, name: str, url: str) -> None:
    """The team's notification block, made with Prefect's own class (never by flowfleet)."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    from prefect.settings import PREFECT_API_URL, temporary_settings

    block = CustomWebhookNotificationBlock(
        name="team alerts",
        url=url,
        json_data={"subject": "{{subject}}", "body": "{{body}}"},
    )
    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        block.save(name, overwrite=True)


def alerting_project(root: Path, api_url: str, uid: str) -> DiskProject:
    """A one-package workspace whose package declares owners and alerts (to the block
    `custom-webhook/alerts-<uid>`), with a flow that always fails beside a healthy one."""
    project = DiskProject(root, api_url, flows=1, per_flow=1, uid=uid)
    (root / "pyproject.toml").write_text(
        '[tool.uv.workspace]\nmembers = ["flows/*"]\n'
        f'[tool.flowfleet]\nproject = "{project.project}"\n'
    )
    member = root / "flows" / "team"
    member.mkdir(parents=True)
    (member / "pyproject.toml").write_text(
        dedent(
            f"""
            [project]
            name = "disk-{project.uid}-flows"

            [tool.flowfleet]
            owners = ["team-sales"]

            [tool.flowfleet.alerts]
            states = ["Failed", "Crashed", "TimedOut"]
            notify = "custom-webhook/alerts-{uid}"
            """
        )
    )
    (project.site / project.package / "failing.py").write_text(
        dedent(
            f"""
            from prefect import flow

            from flowfleet import DeploymentConfig
            from {project.package} import registry


            @registry(DeploymentConfig(name="nightly"))
            @flow(name="extract-{project.uid}")
            def extract() -> None:
                raise RuntimeError("the extract broke")
            """
        )
    )
    return project


def test_a_failed_run_alerts_the_packages_block_and_the_automation_follows_the_code(
    prefect_server: LocalServer,
    receiver: tuple[str, queue.Queue],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, received = receiver
    api = prefect_server.api_url
    uid = uuid.uuid4().hex[:8]
    project = alerting_project(tmp_path / "team", api, uid)
    block = f"alerts-{uid}"
    automation = f"alerts: disk-{uid}-flows (test)"
    failing = f"extract-{uid}/nightly"
    ok = f"{project.flow_name(0)}/d0"

    # The block is not on the server yet: one line naming the package, the field and the
    # fix, and nothing written.
    missing = project.run("deploy", "--env", "test")
    assert missing.returncode == 1
    [line] = error_lines(missing.stderr)
    assert line == (
        f"error: disk-{uid}-flows field 'tool.flowfleet.alerts.notify': no notification block "
        f"'custom-webhook/{block}' on the server at {api} [flows/team/pyproject.toml] (fix: "
        "create it in the Prefect UI (Blocks) or with `prefect block create custom-webhook`; "
        "flowfleet refers to it and never creates it)"
    )
    assert ours(api, uid) == []

    save_webhook_block(api, block, url)
    for command in (("pools", "--env", "test"), ("deploy", "--env", "test", "--output", "json")):
        done = project.run(*command)
        assert done.returncode == 0, done.stdout + done.stderr
    results = {r["full_name"]: r["status"] for r in json.loads(done.stdout)["results"]}
    assert results[f"automation {automation}"] == "created"
    assert results[failing] == results[ok] == "created"

    with httpx.Client(base_url=api) as client:
        [deployment] = [d for d in ours(api, uid) if d["name"] == "nightly"]
        assert deployment["labels"]["owner.team-sales"] == "true"  # every deployment: owners
        [stored] = [
            a for a in client.post("/automations/filter", json={}).json() if a["name"] == automation
        ]
    assert sorted(stored["trigger"]["expect"]) == [
        "prefect.flow-run.Crashed",
        "prefect.flow-run.Failed",
        "prefect.flow-run.TimedOut",
    ]
    assert (
        f"prefect.deployment.{deployment['id']}"
        in (stored["trigger"]["match_related"]["prefect.resource.id"])
    )

    # Nothing changed: the plan says so, alerts included.
    plan = project.run("plan", "--env", "test", "--output", "json", "--detailed-exitcode")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert [r["full_name"] for r in json.loads(plan.stdout)["automations"]["unchanged"]] == [
        automation
    ]

    monkeypatch.setenv("PYTHONPATH", str(project.site))
    state = StateDir.at(tmp_path / "state")
    ensure_worker(state, api, project.pool)
    try:
        started = time.monotonic()
        run = project.run("run", failing, "--env", "test")
        assert run.returncode == 0, run.stdout + run.stderr
        with httpx.Client(base_url=api) as client:
            [flow_run] = client.post(
                "/flow_runs/filter", json={"deployments": {"id": {"any_": [deployment["id"]]}}}
            ).json()
        alert = received.get(timeout=ALERT_TIMEOUT)
        print(f"alert received {time.monotonic() - started:.1f} s after `flowfleet run`")
    finally:
        pidfile.stop(state.pidfile(worker_name(project.pool)))
    assert alert["subject"] == f"[test] extract-{project.uid}/nightly: Failed"
    assert f"Flow run {flow_run['name']} ({flow_run['id']})" in alert["body"]
    assert "the extract broke" in alert["body"]
    assert "owners: team-sales" in alert["body"]

    # Alerts switched off in code: the next deploy deletes only that automation.
    (tmp_path / "team" / "flows" / "team" / "pyproject.toml").write_text(
        f'[project]\nname = "disk-{project.uid}-flows"\n[tool.flowfleet]\nowners = ["team-sales"]\n'
    )
    done = project.run("deploy", "--env", "test", "--output", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    results = {r["full_name"]: r["status"] for r in json.loads(done.stdout)["results"]}
    assert results[f"automation {automation}"] == "deleted"
    with httpx.Client(base_url=api) as client:
        names = {a["name"] for a in client.post("/automations/filter", json={}).json()}
    assert automation not in names
    assert {d["name"] for d in ours(api, uid)} == {"nightly", "d0"}  # the deployments stay
    with httpx.Client(base_url=api) as client:  # the block is the team's: still there
        assert client.get(
            f"/block_types/slug/custom-webhook/block_documents/name/{block}"
        ).is_success


def ours(api_url: str, uid: str) -> list[dict]:
    """This test's deployments on the shared server."""
    with httpx.Client(base_url=api_url) as client:
        rows = client.post("/deployments/filter", json={}).json()
    return [d for d in rows if uid in (d.get("entrypoint") or "")]
