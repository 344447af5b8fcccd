"""Commands that talk to the server: `plan`, `deploy`, `pools`, `prune`."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import typer
from rich.console import Console

from flowfleet import branches, engine, lease, render_github, secrets, terminal, write_concurrency
from flowfleet.apply import Outcome, Report
from flowfleet.cleanup import prune_branches, stale_selector
from flowfleet.cli import app, fail
from flowfleet.cli.scoping import PACKAGE, exit_if_broken, say_broken, warn_broken
from flowfleet.connection import resolve_target
from flowfleet.engine import Target
from flowfleet.interrupt import ApplyLog
from flowfleet.problems import FlowfleetError
from flowfleet.render import Output, render_plan, render_report
from flowfleet.session import Session

ENV = typer.Option(..., "--env", "-e", help="Environment name (infra/environments/<env>.toml).")
OUTPUT = typer.Option(
    Output.table, "--output", "-o", help="table, json, markdown or github (a PR comment section)."
)
PRUNE = typer.Option(
    False, "--prune", help="Also delete this environment's deployments that are no longer declared."
)
ADOPT = typer.Option(
    False, "--adopt", help="Take over same-named deployments that flowfleet does not own."
)
BRANCH = typer.Option(
    None,
    "--branch",
    help="Deploy as this git branch (default: FLOWFLEET_BRANCH, the CI's variables, git).",
)


def console() -> Console:
    return terminal.console(width=160)


def progress(total: int):
    """A progress bar on a terminal, plain lines in CI; both on stderr."""
    if sys.stderr.isatty() and total:
        from rich.progress import Progress

        bar = Progress(console=terminal.console(stderr=True), transient=True)
        task = bar.add_task("applying", total=total)
        bar.start()

        def step(outcome: Outcome) -> None:
            bar.advance(task)
            if outcome.status == "failed":
                shown = terminal.literal(f"{outcome.full_name}: {outcome.details}")
                bar.console.print(f"[red]failed[/] {shown}")

        return step, bar.stop

    def line(outcome: Outcome) -> None:
        print(f"{outcome.status} {outcome.full_name}", file=sys.stderr, flush=True)

    return line, lambda: None


def load_target(
    env: str, branch: str | None, output: Output, command: str, packages: list[str]
) -> Target:
    """The resolved target; for a PR comment, problems that stop it become its section.
    A package's own problems block only that package; they are printed first."""
    try:
        target = Target.load(
            env, branch=branch, prefetch=True, partial_load=True, packages=packages
        )
        return say_broken(target)
    except FlowfleetError as exc:
        if output is Output.github:
            print(render_github.problems_section(env, exc.problems, command), end="")
        raise


def announce(target: Target) -> Target:
    """Say which server this run talks to and why that one (never a credential), on stderr."""
    print(resolve_target(target.environment).describe(), file=sys.stderr, flush=True)
    return target


def finish(report: Report, output: Output | None) -> None:
    """Print the report (unless `output` is None: printed already) and fail if it failed."""
    if output is not None:
        render_report(report, output, console())
    if report.aborted:
        raise fail(report.aborted)
    if not report.ok:
        raise fail(*(f"{o.full_name}: {o.details}" for o in report.failed))


@app.command()
def plan(
    env: str = ENV,
    output: Output = OUTPUT,
    prune: bool = PRUNE,
    adopt: bool = ADOPT,
    branch: str | None = BRANCH,
    detailed_exitcode: bool = typer.Option(
        False, "--detailed-exitcode", help="Exit 0 with no changes, 2 with changes, 1 on error."
    ),
    package: list[str] = PACKAGE,
) -> None:
    """Compare what the environment should hold with its Prefect server; change nothing."""
    target = announce(load_target(env, branch, output, "plan", package))
    result = asyncio.run(engine.plan(target, prune=prune, adopt=adopt))
    if output is Output.github:
        built = render_github.built_packages()
        print(render_github.plan_section(result, target.desired, built=built), end="")
    else:
        render_plan(result, output, console())
    if result.blockers:
        raise fail(*result.blockers)
    exit_if_broken(target, "plan")
    if detailed_exitcode and result.has_changes:
        raise typer.Exit(2)


@app.command()
def deploy(
    env: str = ENV,
    prune: bool = PRUNE,
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan and write nothing."),
    adopt: bool = ADOPT,
    branch: str | None = BRANCH,
    output: Output = OUTPUT,
    concurrency: str = typer.Option(
        os.environ.get("FLOWFLEET_CONCURRENCY", write_concurrency.AUTO),
        "--concurrency",
        help="Writes in flight at once, 1 to 32, or 'auto' (the default): four for a remote "
        "server, and for a near one whatever a trial of its first writes finds faster, one "
        "or four (FLOWFLEET_CONCURRENCY).",
    ),
    lock_wait: float | None = typer.Option(
        None,
        "--lock-wait",
        min=0,
        help="Seconds to wait while another deploy of this environment runs "
        f"({lease.WAIT_VAR}, default {lease.LeaseSettings.wait:.0f}); 0 stops at once.",
    ),
    package: list[str] = PACKAGE,
) -> None:
    """Apply the difference: create, update, and delete with --prune. Exit 0 only if all applied.

    A package that does not load is left as it is on the server; the rest apply."""
    try:
        writers = write_concurrency.parse(concurrency)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--concurrency'") from None
    log = ApplyLog()  # on Ctrl-C: what was applied and what was not
    with log.on_ctrl_c():
        target = announce(load_target(env, branch, output, "deploy", package))

    async def run():
        step, stop = progress(len(target.desired))
        log.forward = step
        try:
            return await engine.deploy(
                target,
                prune=prune,
                adopt=adopt,
                dry_run=dry_run,
                concurrency=writers,
                on_outcome=log,
                lease=lease.LeaseSettings.from_env(lock_wait),
                on_plan=log.planned,
                say=lambda line: print(secrets.scrub(line), file=sys.stderr, flush=True),
            )
        finally:
            stop()

    with log.on_ctrl_c():
        planned, report = asyncio.run(run())
    if output is Output.github:
        built = render_github.built_packages()
        print(render_github.deploy_section(planned, report, target.desired, built=built), end="")
        if report is None and planned.blockers:
            raise fail(*planned.blockers)
        if report is not None:
            finish(report, None)
        exit_if_broken(target, "deploy")
        return
    if report is None:
        render_plan(planned, output, console())
        if planned.blockers:
            raise fail(*planned.blockers)
    else:
        finish(report, output)
    exit_if_broken(target, "deploy")


@app.command()
def pools(
    env: str = ENV,
    update: bool = typer.Option(
        False, "--update", help="Replace undeclared pools' templates with the stock one."
    ),
    adopt: bool = typer.Option(
        False, "--adopt", help="Take over declared pools that flowfleet did not create."
    ),
    branch: str | None = BRANCH,
) -> None:
    """Create the work pools the environment needs; declared ones get their settings.

    A package that does not load gets a warning line: `deploy`, which runs next, fails on it."""
    target = announce(Target.load(env, branch=branch, partial_load=True))
    warn_broken(target)
    outcomes = asyncio.run(engine.pools(target, update=update, adopt=adopt))
    for o in outcomes:
        print(f"{o.status:9} {o.full_name}: {secrets.scrub(o.details)}")
    failed = [f"{o.full_name}: {o.details}" for o in outcomes if o.status == "failed"]
    if failed:
        raise fail(*failed)


@app.command()
def prune(
    env: str = ENV,
    output: Output = OUTPUT,
    branch: str | None = typer.Option(
        None, "--branch", help="Delete every branch deployment of this branch (it closed)."
    ),
    stale_branches: bool = typer.Option(
        False, "--stale-branches", help="Delete the branch deployments of vanished branches."
    ),
    live_branches: str | None = typer.Option(
        None,
        "--live-branches",
        metavar="FILE",
        help="With --stale-branches: the live branch names, one a line; '-' reads stdin. "
        "Default: `git ls-remote --heads REMOTE`.",
    ),
    remote: str = typer.Option("origin", "--remote", help="The git remote for --stale-branches."),
    package: list[str] = PACKAGE,
) -> None:
    """Delete this environment's managed deployments that are no longer declared.

    With --branch or --stale-branches, delete only branch deployments (labelled
    `flowfleet.branch`) of this project and environment, chosen by branch name;
    flow code is not loaded.
    """
    if branch and stale_branches:
        raise fail("give --branch NAME or --stale-branches, not both")
    if live_branches and not stale_branches:
        raise fail("--live-branches goes with --stale-branches")
    if package and (branch or stale_branches):
        raise fail("--package goes without --branch and --stale-branches")
    if not (branch or stale_branches):
        target = say_broken(announce(Target.load(env, partial_load=True, packages=package)))
        finish(asyncio.run(engine.prune(target)), output)
        exit_if_broken(target, "prune")
        return
    session = Session()
    if branch:
        select = branch.__eq__
    else:
        if live_branches == "-":
            live = branches.parse_branch_list(sys.stdin.read())
        elif live_branches:
            live = branches.parse_branch_list(Path(live_branches).read_text())
        else:
            live = branches.live_branches_from_git(session.workspace.root, remote)
        select = stale_selector(live, session.environment(env).default_branch)
    print(resolve_target(session.environment(env)).describe(), file=sys.stderr, flush=True)
    finish(asyncio.run(prune_branches(session, env, select)), output)
