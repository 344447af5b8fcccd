"""Branch control and branch deployments, against a real Prefect server.

prod refuses other branches; dev gives each branch its own paused, labelled
deployments beside main's; closing a branch (or losing it) removes exactly its own.
"""

from __future__ import annotations

import hashlib
import re

import pytest

from conftest import ROOT, git, run_cli
from deploy_fleet import DeployFleet, WriteCounter
from flowfleet import branches
from flowfleet import desired as ownership
from flowfleet.problems import FlowfleetError

CLEAN = dict.fromkeys(branches.BRANCH_VARS, "")


# ---------------------------------------------------------------- fixtures, helpers


def add_environments(fleet: DeployFleet) -> None:
    """dev: branch deployments from any branch; prod: main only. Same pool as `test`."""
    envs = fleet.workspace.environments_dir
    common = f'api_url = "{fleet.api_url}"\ndefault_infra = "worker"\n'
    pools = f'[pools]\nworker = "{fleet.pool}"\n'
    (envs / "dev.toml").write_text(
        common + 'branches = ["*"]\ndefault_branch = "main"\nbranch_deployments = true\n' + pools
    )
    (envs / "prod.toml").write_text(common + 'branches = ["main"]\n' + pools)


@pytest.fixture
def fleet(prefect_server, tmp_path) -> DeployFleet:
    fleet = DeployFleet(tmp_path / "one", prefect_server.api_url)
    add_environments(fleet)
    return fleet


def by_branch(deployments: dict) -> dict[str | None, set[str]]:
    found: dict[str | None, set[str]] = {}
    for full_name, d in deployments.items():
        found.setdefault(d.labels.get(ownership.BRANCH), set()).add(full_name)
    return found


def cli_env(api_env: dict[str, str], **extra: str) -> dict[str, str]:
    return {**api_env, **CLEAN, "FLOWFLEET_BRANCH": "main", **extra}


# ---------------------------------------------------------------- names (pure)


def test_branch_suffix_is_slugged_stable_short_and_collision_free():
    assert branches.suffix("feature/Login") == branches.suffix("feature/Login")
    expected = hashlib.sha256(b"feature/Login").hexdigest()[: branches.HASH_LEN]
    assert branches.deployment_name("default", "feature/Login") == (
        f"default--feature-login-{expected}"
    )
    # Same slug, different branches: the hash keeps them apart.
    assert branches.slug("feat/x") == branches.slug("feat-x") == branches.slug("Feat_X")
    assert len({branches.suffix(b) for b in ("feat/x", "feat-x", "Feat_X")}) == 3
    long = "renovate/" + "very-long-dependency-name-" * 10
    name = branches.suffix(long)
    assert len(name) <= 2 + branches.SLUG_MAX + 1 + branches.HASH_LEN
    assert re.fullmatch(r"--[a-z0-9]+(-[a-z0-9]+)*-[0-9a-f]{8}", name)
    assert re.fullmatch(r"--branch-[0-9a-f]{8}", branches.suffix("///"))


# ---------------------------------------------------------------- detection


def test_branch_detection_order(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "trunk")
    # An unborn branch (no commit yet) already has its name.
    assert branches.current_branch(repo, CLEAN) == "trunk"
    git(repo, "commit", "-q", "--allow-empty", "-m", "one")
    git(repo, "checkout", "-q", "-b", "feature/from-git")
    assert branches.current_branch(repo, CLEAN) == "feature/from-git"

    env = {**CLEAN, "CI_COMMIT_REF_NAME": "gitlab-mr"}
    assert branches.current_branch(repo, env) == "gitlab-mr"
    env["GITHUB_REF_NAME"] = "pushed"
    assert branches.current_branch(repo, env) == "pushed"
    env["GITHUB_HEAD_REF"] = "pr-source"
    assert branches.current_branch(repo, env) == "pr-source"
    env["FLOWFLEET_BRANCH"] = "explicit"
    assert branches.current_branch(repo, env) == "explicit"
    # Empty values (GITHUB_HEAD_REF on a push) are skipped, not taken.
    assert branches.current_branch(repo, {**CLEAN, "GITHUB_REF_NAME": "main"}) == "main"

    git(repo, "checkout", "-q", "--detach")
    with pytest.raises(FlowfleetError) as detached:
        branches.current_branch(repo, CLEAN)
    text = str(detached.value)
    assert "detached" in text and "FLOWFLEET_BRANCH" in text
    assert branches.current_branch(repo, {**CLEAN, "FLOWFLEET_BRANCH": "x"}) == "x"

    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(FlowfleetError, match="FLOWFLEET_BRANCH"):
        branches.current_branch(plain, CLEAN)


def test_live_branches_come_from_git_ls_remote(tmp_path):
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    git(work, "commit", "-q", "--allow-empty", "-m", "one")
    git(work, "remote", "add", "origin", str(origin))
    git(work, "push", "-q", "origin", "main", "main:feat/alive")
    assert branches.live_branches_from_git(work) == {"main", "feat/alive"}
    with pytest.raises(FlowfleetError, match="ls-remote"):
        branches.live_branches_from_git(work, remote="nowhere")


# ---------------------------------------------------------------- environment branches


@pytest.mark.server
def test_prod_refuses_a_feature_branch_and_writes_nothing(fleet):
    fleet.add("etl", cron="0 6 * * *")
    counter = WriteCounter()
    for attempt in (fleet.plan, lambda **kw: fleet.deploy(counter=counter, **kw)):
        with pytest.raises(FlowfleetError) as refused:
            attempt(env="prod", branch="feature/login")
        text = str(refused.value)
        assert "'feature/login'" in text and "prod" in text and "allowed: main" in text
    assert counter.writes == []
    assert fleet.server_deployments() == {}
    # The same fleet from main goes out: the refusal was about the branch.
    _, report = fleet.deploy(env="prod", branch="main")
    assert report.ok and [o.status for o in report.outcomes] == ["created"]


@pytest.mark.server
def test_cli_refuses_prod_from_a_branch_before_contacting_the_server(api_env):
    # An unreachable server: reaching it would fail differently ("reading the server").
    env = cli_env(api_env, PREFECT_API_URL="http://127.0.0.1:9/api")
    from_env = run_cli("plan", "--env", "prod", env={**env, "FLOWFLEET_BRANCH": "feature/x"})
    from_flag = run_cli("deploy", "--env", "prod", "--branch", "hotfix/y", env=env)
    for result, branch in ((from_env, "feature/x"), (from_flag, "hotfix/y")):
        assert result.returncode == 1, result.stderr
        assert f"branch '{branch}'" in result.stderr
        assert "(allowed: main)" in result.stderr
        assert "reading the server" not in result.stderr
    assert ROOT.joinpath("infra/environments/prod.toml").read_text().count('"main"')


# ---------------------------------------------------------------- branch deployments


@pytest.mark.server
def test_two_branches_deploy_side_by_side_without_touching_main(fleet):
    fleet.add("etl", cron="*/5 * * * *")
    fleet.add("adhoc")
    _, report = fleet.deploy(env="dev", branch="main")
    assert report.ok
    main = fleet.server_deployments()
    assert set(main) == {f"{fleet.flow_name(n)}/default" for n in ("etl", "adhoc")}
    assert all(ownership.BRANCH not in d.labels and not d.paused for d in main.values())
    main_before = {k: (d.id, d.updated) for k, d in main.items()}

    for branch in ("feat/login", "feat-login"):
        _, report = fleet.deploy(env="dev", branch=branch)
        assert report.ok and {o.status for o in report.outcomes} == {"created"}

    after = fleet.server_deployments()
    assert len(after) == 6
    lanes = by_branch(after)
    assert lanes[None] == set(main)
    for branch in ("feat/login", "feat-login"):
        suffix = branches.suffix(branch)
        assert lanes[branch] == {f"{fleet.flow_name(n)}/default{suffix}" for n in ("etl", "adhoc")}
        for full_name in lanes[branch]:
            d = after[full_name]
            assert d.paused, full_name
            assert d.labels[ownership.ENV] == "dev"
            assert d.labels[ownership.PROJECT] == fleet.project
        etl = after[f"{fleet.flow_name('etl')}/default{suffix}"]
        assert [s.schedule.cron for s in etl.schedules] == ["*/5 * * * *"]
    assert branches.suffix("feat/login") != branches.suffix("feat-login")
    # main's deployments were not written at all.
    assert {k: (after[k].id, after[k].updated) for k in main} == main_before
    assert not any(after[k].paused for k in main)

    # A branch redeploy is a no-op; main's deploy with --prune leaves branches alone.
    counter = WriteCounter()
    _, again = fleet.deploy(env="dev", branch="feat/login", counter=counter)
    assert {o.status for o in again.outcomes} == {"unchanged"} and counter.writes == []
    planned, report = fleet.deploy(env="dev", branch="main", prune=True)
    assert planned.delete == [] and report.ok
    assert set(fleet.server_deployments()) == set(after)

    # Pruning on a branch considers only that branch's deployments.
    fleet.remove("adhoc")
    planned, report = fleet.deploy(env="dev", branch="feat/login", prune=True)
    gone = f"{fleet.flow_name('adhoc')}/default{branches.suffix('feat/login')}"
    assert [c.full_name for c in planned.delete] == [gone]
    assert set(fleet.server_deployments()) == set(after) - {gone}


@pytest.mark.server
def test_closing_a_branch_removes_exactly_its_deployments(fleet, prefect_server, tmp_path, api_env):
    fleet.add("etl", cron="0 6 * * *")
    fleet.add("adhoc")
    # Another project on the same server, with the same branch name, must survive.
    neighbour = DeployFleet(tmp_path / "two", prefect_server.api_url)
    add_environments(neighbour)
    neighbour.add("etl")
    for branch in ("main", "feat/login", "feat/other"):
        assert fleet.deploy(env="dev", branch=branch)[1].ok
    assert neighbour.deploy(env="dev", branch="feat/login")[1].ok
    before = fleet.server_deployments()
    neighbour_before = neighbour.server_deployments()

    result = run_cli(
        "prune",
        "--env",
        "dev",
        "--branch",
        "feat/login",
        "--output",
        "json",
        env=cli_env(api_env),
        cwd=fleet.workspace.root,
    )
    assert result.returncode == 0, result.stderr
    closed = by_branch(before)["feat/login"]
    assert len(closed) == 2
    assert set(fleet.server_deployments()) == set(before) - closed
    assert set(neighbour.server_deployments()) == set(neighbour_before)
    assert '"deleted": 2' in result.stdout

    # Again: nothing left to delete, still success.
    again = run_cli(
        "prune",
        "--env",
        "dev",
        "--branch",
        "feat/login",
        env=cli_env(api_env),
        cwd=fleet.workspace.root,
    )
    assert again.returncode == 0, again.stderr
    assert set(fleet.server_deployments()) == set(before) - closed


@pytest.mark.server
def test_stale_branches_from_stdin_removes_only_dead_branches(fleet, api_env):
    fleet.add("etl")
    for branch in ("main", "feat/alive", "feat/dead"):
        assert fleet.deploy(env="dev", branch=branch)[1].ok
    before = fleet.server_deployments()
    env = cli_env(api_env)

    def stale(live: str):
        return run_cli(
            "prune",
            "--env",
            "dev",
            "--stale-branches",
            "--live-branches",
            "-",
            env=env,
            cwd=fleet.workspace.root,
            input=live,
        )

    # A list that cannot be the whole truth is refused, and nothing is deleted.
    for suspicious in ("", "feat/alive\nfeat/dead\n"):
        refused = stale(suspicious)
        assert refused.returncode == 1 and "refusing" in refused.stderr
    assert set(fleet.server_deployments()) == set(before)

    result = stale("# from git ls-remote\nrefs/heads/main\nfeat/alive\n")
    assert result.returncode == 0, result.stderr
    dead = by_branch(before)["feat/dead"]
    assert len(dead) == 1
    assert set(fleet.server_deployments()) == set(before) - dead


# ---------------------------------------------------------------- deployment branches


@pytest.mark.server
def test_deployment_branch_filters_include_and_exclude(fleet, monkeypatch):
    fleet.add("always")
    fleet.add("hotfix", branches=["hotfix/*"])
    fleet.add("mainonly", branches=["main"])
    name = {n: f"{fleet.flow_name(n)}/default" for n in ("always", "hotfix", "mainonly")}

    _, report = fleet.deploy(branch="main")
    assert sorted(o.full_name for o in report.outcomes) == sorted(
        [name["always"], name["mainonly"]]
    )
    planned = fleet.plan(branch="hotfix/42")
    assert [c.full_name for c in planned.create] == [name["hotfix"]]
    assert [c.full_name for c in planned.unchanged] == [name["always"]]
    planned = fleet.plan(branch="feature/x", prune=True)
    assert planned.create == [] and [c.full_name for c in planned.delete] == [name["mainonly"]]

    # In dev, a feature branch gets only what its filters allow, under branch names.
    _, report = fleet.deploy(env="dev", branch="hotfix/42")
    suffix = branches.suffix("hotfix/42")
    assert sorted(o.full_name for o in report.outcomes) == sorted(
        [name["always"] + suffix, name["hotfix"] + suffix]
    )

    # When a deployment depends on the branch, an unknown branch is an error, not "any".
    for var in branches.BRANCH_VARS:
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(FlowfleetError, match="FLOWFLEET_BRANCH"):
        fleet.plan()
