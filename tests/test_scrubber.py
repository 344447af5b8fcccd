"""The one secret scrubber (flowfleet.secrets) and the terminal boundary, without a server.

Tables of inputs a user could write or a server could answer, each with what must be
printed instead: secret names in every case style, credentials in URLs, auth headers,
key shapes, nested structures, and the render paths that use them (plan table title,
`api_url` in JSON, reports, rendered jobs, the cache). Rich markup in names is shown as
written. test_secrets.py runs the same promises through the CLI against real servers.
"""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from deployments import minimal_deployment
from flowfleet import secrets, terminal
from flowfleet.apply import Outcome, Report
from flowfleet.cache import holds_secrets
from flowfleet.plan import Change, FieldChange, Plan
from flowfleet.render import Output, plan_json, plan_markdown, plan_table, render_report

M = secrets.MASK


@pytest.mark.parametrize(
    "name",
    [
        "db_password",  # snake
        "dbPassword",  # camel
        "DbPassword",  # Pascal
        "db-password",  # kebab
        "DB_PASSWORD",  # upper
        "db.password",
        "DBPASSWORD",
        "password",
        "apiKey",
        "API_KEY",
        "aws_secret_access_key",
        "AWS_SECRET_ACCESS_KEY",
        "clientSecret",
        "github-token",
        "PREFECT_API_AUTH_STRING",
        "authString",
        "Authorization",
        "slack_webhook_secret",
        "privateKey",
        "DB_CREDENTIALS",
        "passphrase",
    ],
)
def test_secret_names_in_every_case_style(name: str) -> None:
    assert secrets.is_secret_name(name)
    assert secrets.mask({name: "hunter2-value"}) == {name: M}


@pytest.mark.parametrize(
    "name",
    ["MONKEY", "key", "region", "PWD", "author", "token_url", "tokenizer", "Passage", "secrets"],
)
def test_ordinary_names_are_shown(name: str) -> None:
    assert not secrets.is_secret_name(name)
    assert secrets.mask({name: "visible-value"}) == {name: "visible-value"}


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("http://user:pass@host/api", f"http://user:{M}@host/api"),
        (
            "Plan for prod (https://admin:s3cret-pass@10.0.0.1:4200/api)",
            f"Plan for prod (https://admin:{M}@10.0.0.1:4200/api)",
        ),
        ("cannot reach postgresql+asyncpg://app:pw@db:5432/x", f"postgresql+asyncpg://app:{M}@db"),
        ("git clone https://ghp_abc123token@github.com/o/r", f"https://{M}@github.com/o/r"),
        ("ssh://git@github.com/o/r.git", "ssh://git@github.com/o/r.git"),
        ("http://127.0.0.1:4200/api", "http://127.0.0.1:4200/api"),
        ("GET http://h/api?api_key=abc123&page=2", f"?api_key={M}&page=2"),
        ("GET http://h/api?access_token=abc123", f"?access_token={M}"),
        ("Authorization: Bearer pnu_a1b2c3d4e5f6g7h8i9j0", f"Authorization: Bearer {M}"),
        ("sent Basic YWRtaW46czNjcmV0LXBhc3M=", f"Basic {M}"),
        ("basic authentication failed", "basic authentication failed"),
        ("key pnu_reliability7f3c9eDoNotPrint leaked", f"key {M} leaked"),
        ("token ghp_0123456789abcdefghijKLMNOP", f"token {M}"),
        ("id AKIAIOSFODNN7EXAMPLE", f"id {M}"),
        ("{'dbPassword': 'hunter2', 'region': 'eu'}", f"{{'dbPassword': '{M}', 'region': 'eu'}}"),
        ('{"db-password": "hunter2", "paused": true}', f'{{"db-password": "{M}", "paused": true}}'),
        ("DB_PASSWORD=hunter2 REGION=eu", f"DB_PASSWORD={M} REGION=eu"),
        ("apiKey: abc123", f"apiKey: {M}"),
        ("export PREFECT_API_KEY=...", "export PREFECT_API_KEY=..."),  # a hint, kept
        ("set DB_PASSWORD=<value>", "set DB_PASSWORD=<value>"),
        ("", ""),
    ],
)
def test_free_text_is_scrubbed(text: str, shown: str) -> None:
    assert shown in secrets.scrub(text)
    assert secrets.scrub(secrets.scrub(text)) == secrets.scrub(text), "scrubbing is stable"


def test_nested_structures_are_masked_and_the_original_is_not_changed() -> None:
    value = {
        "env": {"dbPassword": "p4ss-camel", "db-password": "p4ss-kebab", "REGION": "eu"},
        "containers": [
            {"env": [{"name": "DB_PASSWORD", "value": "p4ss-pair"}, {"name": "A", "value": "1"}]}
        ],
        "tags": [{"key": "Team", "value": "sales"}],  # an AWS tag: `key` names it
        "dsn": "postgresql://app:p4ss-url@db/x",
        "deep": {"apiKey": {"primary": ["k1-secret", "k2-secret"]}},
    }
    masked = secrets.mask(value)
    assert masked == {
        "env": {"dbPassword": M, "db-password": M, "REGION": "eu"},
        "containers": [{"env": [{"name": "DB_PASSWORD", "value": M}, {"name": "A", "value": "1"}]}],
        "tags": [{"key": "Team", "value": "sales"}],
        "dsn": f"postgresql://app:{M}@db/x",
        "deep": {"apiKey": {"primary": [M, M]}},
    }
    assert value["env"]["dbPassword"] == "p4ss-camel", "the value sent is not changed"
    # Values learnt while masking are found again in free text (a server's error line).
    assert secrets.scrub("422: bad value 'p4ss-pair'") == f"422: bad value '{M}'"


def test_learnt_values_that_would_break_json_are_not_searched() -> None:
    secrets.mask({"FEATURE_TOKEN": "true", "PIN_CODE_SECRET": "8080"})
    assert secrets.scrub('{"paused": true, "port": 8080}') == '{"paused": true, "port": 8080}'


def test_the_api_credential_in_the_environment_is_scrubbed(monkeypatch) -> None:
    monkeypatch.setenv("PREFECT_API_AUTH_STRING", "admin:s3cret-pass")
    assert secrets.scrub("refused admin:s3cret-pass") == f"refused {M}"


def test_the_cache_refuses_any_secret_a_deployment_holds() -> None:
    assert not holds_secrets(minimal_deployment(parameters={"days": 1}))
    for secret in (
        minimal_deployment(job_variables={"env": {"dbPassword": "x1-secret"}}),
        minimal_deployment(parameters={"db-password": "x2-secret"}),
        minimal_deployment(parameters={"dsn": "postgresql://app:x3-secret@db/x"}),
        minimal_deployment(description="token=x4-secret-value"),
        minimal_deployment(parameter_schema={"properties": {"apiKey": {"default": "x5-k3y"}}}),
    ):
        assert holds_secrets(secret), secret
    # A parameter named like a secret, without a default, is no secret to keep out.
    schema = {"properties": {"apiKey": {"type": "string", "title": "Api Key"}}}
    assert not holds_secrets(minimal_deployment(parameter_schema=schema))


def _plan(names: list[str]) -> Plan:
    plan = Plan(environment="prod", project="p", api_url="http://admin:s3cret-pass@host/api")
    plan.create = [Change(full_name=n, action="create", work_pool="pool[/]") for n in names]
    plan.update = [
        Change(
            full_name="f/creds",
            action="update",
            changes={"job_variables": FieldChange(**{"from": {"apiKey": "old-k3y"}, "to": {}})},
        )
    ]
    plan.missing_pools = {"x": "process"}  # its blocker line names the server
    return plan


def _table(plan: Plan) -> str:
    out = io.StringIO()
    plan_table(plan, Console(file=out, width=300, emoji=False))
    return out.getvalue()


NAMES = ["backfill[bold]-x", "a[/]b", "c[red]d[/red]", "emoji:fire:", "back\\[slash"]
TRICKY = [*NAMES, "\\[bold]x", "\\\\[b]", "ends\\", "q\\[red]z[/red]\\", "[link=x]y[/link]"]


@pytest.mark.parametrize("name", TRICKY)
def test_a_literal_renders_exactly_as_written(name: str) -> None:
    out = io.StringIO()
    Console(file=out, width=200, emoji=False).print(terminal.literal(name), highlight=False)
    assert out.getvalue() == name + "\n"


def test_every_plan_format_hides_the_url_password_and_shows_names_as_written() -> None:
    plan = _plan(NAMES)
    table = _table(plan)
    as_json = plan_json(plan)
    markdown = plan_markdown(plan)
    assert "Plan for prod (http://admin:****@host/api)" in table
    assert as_json["api_url"] == "http://admin:****@host/api"
    for text in (table, json.dumps(as_json), markdown):
        assert "s3cret-pass" not in text and "old-k3y" not in text
    for name in NAMES:
        assert name in table, f"{name!r} altered in:\n{table}"
    assert "pool[/]" in table


def test_pool_and_automation_tables_show_names_as_written() -> None:
    """The plan's other tables print names through the same escape: `[/]` never crashes."""
    from flowfleet.automation_plan import AutomationChange
    from flowfleet.changes import PoolChange

    plan = Plan(environment="prod", project="p", api_url="http://host/api")
    plan.pools = [PoolChange(name=f"pool-{n}", action="create", type="process") for n in NAMES]
    plan.automations.create = [
        AutomationChange(full_name=f"{n}/d after up/d Completed", action="create", deployment=n)
        for n in NAMES
    ]
    table = _table(plan)
    for name in NAMES:
        assert f"pool-{name}" in table and f"{name}/d after up/d Completed" in table, table


def test_reports_hide_the_password_in_every_format(capsys) -> None:
    report = Report(environment="prod", api_url="http://admin:s3cret-pass@host/api")
    report.outcomes = [
        Outcome(
            full_name="backfill[bold]-x/d",
            status="failed",
            details="cannot reach http://admin:s3cret-pass@host/api",
        )
    ]
    for output in (Output.json, Output.markdown, Output.table):
        render_report(report, output, Console(file=io.StringIO(), width=300))
        render_report(report, output, terminal.console(width=300))
    printed = capsys.readouterr().out
    assert "s3cret-pass" not in printed
    assert "backfill[bold]-x/d" in printed
    assert json.loads(printed.split("\n}\n")[0] + "\n}")["api_url"] == "http://admin:****@host/api"


def test_the_stream_guard_scrubs_every_write() -> None:
    out = io.StringIO()
    guarded = secrets._Scrubbed(out)
    print("Prefect API: http://u:topsecret1@h/api", file=guarded)  # type: ignore[arg-type]
    assert out.getvalue() == "Prefect API: http://u:****@h/api\n"
    assert guarded.getvalue() == out.getvalue(), "everything else is the stream's own"
