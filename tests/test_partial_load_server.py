"""One team's broken package blocks only itself; `--package` scopes; undeclared is visible.

Two teams on disk, deployed by the real CLI against the session's real server:
`alpha` (DiskProject's package) and `beta`. The server's JSON for alpha's deployments
is compared byte for byte before and after each run that alpha cannot load.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from disk_project import DiskProject, error_lines
from flowfleet import desired as ownership
from snapshots import create_pool, hand_made, snapshot

pytestmark = pytest.mark.server

BETA_FLOW = """
@registry(DeploymentConfig(cron="{cron}"))
@flow(name="{name}")
def {fn}() -> None:
    pass
"""
TYPO = """
from prefect import flow

from flowfleet import DeploymentConfig
from {package} import registry


@registry(DeploymentConfig(timezon="Europe/Berlin"))
@flow(name="typo-{uid}")
def typo() -> None:
    pass
"""

VAULT = """
import os

if os.environ.get("ALPHA_BROKEN"):  # not in the cache's key: only a fresh import sees it
    raise RuntimeError("vault unreachable")
"""


class TwoTeams(DiskProject):
    """Alpha: DiskProject's package, flows f00/d0 and f01/d0. Beta: flows b00 and b01."""

    def __init__(self, root: Path, api_url: str):
        super().__init__(root, api_url, flows=2, per_flow=1)
        self.alpha = f"disk-{self.uid}-flows"
        self.beta = f"beta-{self.uid}-flows"
        self.beta_module = f"beta_{self.uid}_flows"
        pkg = self.site / self.beta_module
        pkg.mkdir()
        (pkg / "__init__.py").write_text(
            "from flowfleet import Registry\n\nregistry = Registry()\n"
        )
        info = self.site / f"{self.beta_module}-0.1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {self.beta}\nVersion: 0.1.0\n"
        )
        (info / "entry_points.txt").write_text(
            f"[flowfleet-disk-project]\nbeta = {self.beta_module}:registry\n"
        )
        self.write_beta({"b00": "0 3 * * *", "b01": "0 4 * * *"})
        create_pool(api_url, self.pool)

    def write_beta(self, crons: dict[str, str]) -> None:
        lines = ["from prefect import flow\n", "from flowfleet import DeploymentConfig"]
        lines.append(f"from {self.beta_module} import registry\n")
        for short, cron in crons.items():
            lines.append(BETA_FLOW.format(cron=cron, name=self.b(short), fn=short))
        (self.site / self.beta_module / "flows.py").write_text("\n".join(lines))
        for cached in (self.site / self.beta_module).glob("__pycache__/flows*"):
            cached.unlink()

    def b(self, short: str) -> str:
        return f"{short}-{self.uid}"

    def break_alpha(self) -> None:
        """One team's typo: `timezon=` raises when its module is imported."""
        typo = TYPO.format(package=self.package, uid=self.uid)
        (self.site / self.package / "typo.py").write_text(typo)

    def mine(self) -> dict[str, str]:
        """This project's deployments on the server: full name -> their JSON."""
        return {k: v for k, v in snapshot(self.api_url).deployments.items() if self.uid in k}

    def alphas(self) -> dict[str, str]:
        return {k: v for k, v in self.mine().items() if k.startswith("f0")}

    def cron(self, full_name: str) -> str:
        [schedule] = json.loads(self.mine()[full_name])["schedules"]
        return schedule["schedule"]["cron"]

    def ok(self, *args: str) -> str:
        result = self.run(*args)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def plan_json(self, *args: str, code: int = 0) -> dict:
        result = self.run("plan", "--env", "test", "-o", "json", *args)
        assert result.returncode == code, result.stderr
        return json.loads(result.stdout)


def names(plan: dict, section: str) -> list[str]:
    return sorted(row["full_name"] for row in plan[section])


@pytest.fixture
def teams(prefect_server, tmp_path: Path) -> TwoTeams:
    teams = TwoTeams(tmp_path / "project", prefect_server.api_url)
    teams.ok("deploy", "--env", "test")
    assert len(teams.mine()) == 4
    return teams


@pytest.mark.parametrize("prune", [False, True], ids=["deploy", "deploy-prune"])
def test_a_broken_package_blocks_only_itself(teams: TwoTeams, prune: bool) -> None:
    teams.write_flows(1, 1, ', tags=["changed"]')  # alpha drops f01 and changes f00 ...
    teams.break_alpha()  # ... but does not load
    teams.write_beta({"b00": "0 5 * * *"})  # beta changes b00's cron and drops b01
    alpha_before = teams.alphas()

    plan = teams.plan_json(*(["--prune"] if prune else []), code=1)
    [broken] = plan["broken_packages"]
    assert broken["package"] == teams.alpha and "timezon" in broken["problems"][0]
    assert names(plan, "update") == [f"{teams.b('b00')}/default"]
    gone = [f"{teams.b('b01')}/default"]
    assert names(plan, "delete" if prune else "not_declared") == gone
    assert names(plan, "not_declared" if prune else "delete") == []

    result = teams.run("deploy", "--env", "test", *(["--prune"] if prune else []))
    assert result.returncode == 1
    errors = error_lines(result.stderr)
    assert errors[0].startswith(f"error: {teams.alpha}")  # package, then flow/field/fix
    assert "timezon" in errors[0] and "(fix: " in errors[0]
    assert errors[-1].startswith(
        f"error: 1 package(s) did not load and were not deployed: {teams.alpha}"
    )
    assert "Traceback" not in result.stderr

    assert teams.alphas() == alpha_before  # byte for byte: not updated, not pruned
    assert teams.cron(f"{teams.b('b00')}/default") == "0 5 * * *"  # the other team applied
    assert (f"{teams.b('b01')}/default" in teams.mine()) is not prune


def test_plan_lists_the_broken_package_first(teams: TwoTeams) -> None:
    teams.break_alpha()
    teams.write_beta({"b00": "0 5 * * *", "b01": "0 4 * * *"})
    result = teams.run("plan", "--env", "test")
    assert result.returncode == 1
    assert result.stdout.splitlines()[0].startswith(f"not loaded, left as it is: {teams.alpha}")
    assert (
        "1 to update" in result.stdout
        and f"1 package(s) not loaded ({teams.alpha})" in result.stdout
    )
    assert error_lines(result.stderr)[0].startswith(f"error: {teams.alpha}")
    # --detailed-exitcode: a package that did not load is an error (1), not "changes" (2)
    assert teams.run("plan", "--env", "test", "--detailed-exitcode").returncode == 1
    # `pools` (which `make deploy` runs first) goes ahead and warns; `deploy` then fails
    pools = teams.run("pools", "--env", "test")
    assert pools.returncode == 0, pools.stderr
    assert f"warning: {teams.alpha} did not load; its pools were not checked" in pools.stderr


def test_package_scopes_plan_deploy_and_prune(teams: TwoTeams) -> None:
    teams.write_flows(1, 1, ', tags=["changed"]')  # alpha: f00 changes, f01 undeclared
    teams.write_beta({"b00": "0 5 * * *"})  # beta: b00 changes, b01 undeclared
    f00, f01 = (f"{teams.flow_name(i)}/d0" for i in (0, 1))
    b00, b01 = (f"{teams.b(s)}/default" for s in ("b00", "b01"))

    plan = teams.plan_json("--package", "beta", "--prune")
    assert (names(plan, "update"), names(plan, "delete")) == ([b00], [b01])
    plan = teams.plan_json("--package", teams.alpha)
    assert (names(plan, "update"), names(plan, "not_declared")) == ([f00], [f01])
    both = teams.plan_json("--package", "beta", "--package", teams.package, "--prune")
    assert names(both, "delete") == [b01, f01]

    listed = json.loads(teams.ok("list", "--env", "test", "-o", "json", "--package", "beta"))
    assert {row["full_name"] for row in listed} == {b00}

    alpha_before = teams.alphas()
    teams.ok("deploy", "--env", "test", "--package", teams.beta)
    assert teams.alphas() == alpha_before and teams.cron(b00) == "0 5 * * *"
    assert b01 in teams.mine()  # deploy without --prune keeps it

    teams.ok("prune", "--env", "test", "--package", "beta")
    assert b01 not in teams.mine() and teams.alphas() == alpha_before  # alpha's f01 stays

    teams.break_alpha()  # a broken package outside the scope is not this run's business
    teams.ok("deploy", "--env", "test", "--package", "beta", "--prune")

    result = teams.run("plan", "--env", "test", "--package", "bta")
    assert result.returncode == 1
    assert error_lines(result.stderr) == [
        f"error: unknown package 'bta' for --package: did you mean '{teams.beta}'? "
        f"(known: {teams.beta}, {teams.alpha})"
    ]


def test_a_renamed_flow_is_listed_as_not_declared(teams: TwoTeams) -> None:
    teams.write_beta({"b00": "0 3 * * *", "b02": "0 4 * * *"})  # b01 renamed to b02
    old, new = f"{teams.b('b01')}/default", f"{teams.b('b02')}/default"

    plan = teams.plan_json()
    assert (names(plan, "create"), names(plan, "delete")) == ([new], [])
    [kept] = plan["not_declared"]
    assert (kept["full_name"], kept["package"]) == (old, teams.beta)
    assert kept["reason"] == "not declared (kept; `--prune` deletes it)"
    assert plan["broken_packages"] == []

    table = teams.ok("plan", "--env", "test")
    [row] = [line for line in table.splitlines() if old in line]
    assert "kept" in row and "not declared (kept; `--prune` deletes it)" in row
    assert "1 not declared (kept)" in table

    markdown = teams.ok("plan", "--env", "test", "-o", "github")
    assert f"1 not declared (kept; `--prune` deletes it): `{old}`" in markdown

    teams.ok("deploy", "--env", "test")
    assert old in teams.mine()  # kept, as the plan said
    pruned = teams.plan_json("--prune")
    assert (names(pruned, "delete"), pruned["not_declared"]) == ([old], [])


def test_a_cached_package_that_fails_afresh_before_a_prune_is_left_alone(
    prefect_server, tmp_path: Path
) -> None:
    """The cache's prune safety belt re-imports a cached package before deleting one of
    its deployments; when that import fails, the package is left alone, the rest applies."""
    teams = TwoTeams(tmp_path / "project", prefect_server.api_url)
    (teams.site / teams.package / "vault.py").write_text(VAULT)
    cache = {"FLOWFLEET_NO_CACHE": "", "FLOWFLEET_CACHE_DIR": str(tmp_path / "cache")}
    assert teams.run("deploy", "--env", "test", **cache).returncode == 0
    ghost = f"ghost-{teams.uid}/default"
    labels = {
        ownership.MANAGED: "true",
        ownership.PROJECT: teams.project,
        ownership.ENV: "test",
        ownership.PACKAGE: teams.alpha,
    }
    hand_made(teams.api_url, f"ghost-{teams.uid}", "default", labels=labels)
    teams.write_beta({"b00": "0 5 * * *"})
    alpha_before = {**teams.alphas(), ghost: teams.mine()[ghost]}

    # From the cache, alpha is not imported: the plan without --prune runs clean.
    result = teams.run("plan", "--env", "test", "-o", "json", ALPHA_BROKEN="1", **cache)
    assert result.returncode == 0, result.stderr
    assert names(json.loads(result.stdout), "not_declared") == sorted(
        [ghost, f"{teams.b('b01')}/default"]
    )

    result = teams.run("deploy", "--env", "test", "--prune", ALPHA_BROKEN="1", **cache)
    assert result.returncode == 1
    errors = error_lines(result.stderr)
    # found while planning, not while loading: listed just before the closing line
    assert "vault unreachable" in errors[-2] and errors[-2].startswith(f"error: {teams.alpha}: ")
    assert f"did not load and were not deployed: {teams.alpha}" in errors[-1]
    mine = teams.mine()
    assert {k: mine[k] for k in alpha_before} == alpha_before  # the ghost too: not pruned
    assert teams.cron(f"{teams.b('b00')}/default") == "0 5 * * *"
    assert f"{teams.b('b01')}/default" not in mine
