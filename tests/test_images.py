"""Content-addressed image tags and `changed`, on a small synthetic workspace in a temp git repo."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flowfleet import images
from flowfleet.images import GitTree, WorkingTree, compute
from flowfleet.problems import FlowfleetError
from flowfleet.workspace import Workspace

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}

ROOT_PYPROJECT = """\
[project]
name = "demo-workspace"
version = "0"
requires-python = ">=3.11"

[tool.uv]
package = false

[tool.uv.workspace]
members = ["packages/*", "flows/*"]
"""

CORE_PYPROJECT = """\
[project]
name = "flowfleet"
version = "0.1.0"
dependencies = ["pydantic>=2"]

[project.entry-points.flowfleet]
ecs = "flowfleet.infra.ecs"
"""

TEAM_PYPROJECT = """\
[project]
name = "{team}-flows"
version = "0.1.0"
dependencies = ["flowfleet", "{dep}"]

[project.entry-points.flowfleet]
{team} = "{team}_flows:registry"

[tool.flowfleet]
image = "{team}-flows"

[tool.uv.sources]
flowfleet = {{ workspace = true }}
"""


def lock_text(versions: dict[str, str]) -> str:
    """A uv.lock for the workspace: sales uses requests, marketing rich, the core pydantic."""

    def registry(name: str, deps: list[str]) -> str:
        version = versions[name]
        dependencies = "".join(f'    {{ name = "{d}" }},\n' for d in deps)
        return (
            f'[[package]]\nname = "{name}"\nversion = "{version}"\n'
            'source = { registry = "https://pypi.org/simple" }\n'
            + (f"dependencies = [\n{dependencies}]\n" if deps else "")
            + f'wheels = [\n    {{ url = "https://files/{name}-{version}.whl", '
            f'hash = "sha256:{name}{version}" }},\n]\n'
        )

    def member(name: str, path: str, deps: list[str]) -> str:
        dependencies = "".join(f'    {{ name = "{d}" }},\n' for d in deps)
        return (
            f'[[package]]\nname = "{name}"\nversion = "0.1.0"\n'
            f'source = {{ editable = "{path}" }}\ndependencies = [\n{dependencies}]\n'
        )

    return "\n".join(
        [
            'version = 1\nrevision = 3\nrequires-python = ">=3.11"\n',
            member("flowfleet", "packages/flowfleet", ["pydantic"]),
            member("marketing-flows", "flows/marketing", ["flowfleet", "rich"]),
            registry("pydantic", ["typing-extensions"]),
            registry("requests", []),
            registry("rich", []),
            member("sales-flows", "flows/sales", ["flowfleet", "requests"]),
            registry("typing-extensions", []),
        ]
    )


VERSIONS = {"pydantic": "2.0", "requests": "2.31", "rich": "13.0", "typing-extensions": "4.0"}


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, env={**os.environ, **GIT_ENV}
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def commit(repo: Path, message: str = "change") -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    write(root / "pyproject.toml", ROOT_PYPROJECT)
    write(root / "uv.lock", lock_text(VERSIONS))
    write(root / "README.md", "# demo\n")
    write(root / ".gitignore", "__pycache__/\n.venv/\n")
    write(root / "infra/docker/Dockerfile", "FROM python:3.11-slim\n")
    write(root / "packages/flowfleet/pyproject.toml", CORE_PYPROJECT)
    write(root / "packages/flowfleet/src/flowfleet/__init__.py", "VERSION = 1\n")
    for team, dep in (("sales", "requests"), ("marketing", "rich")):
        write(root / f"flows/{team}/pyproject.toml", TEAM_PYPROJECT.format(team=team, dep=dep))
        write(root / f"flows/{team}/src/{team}_flows/__init__.py", "registry = None\n")
        write(root / f"flows/{team}/src/{team}_flows/etl.py", "def flow():\n    return 1\n")
    git(root, "init", "-q", "-b", "main")
    commit(root, "initial")
    return root


def tags(root: Path) -> dict[str, str]:
    return {name: inputs.tag for name, inputs in compute(WorkingTree(root)).items()}


def test_flow_packages_get_tags_and_the_core_does_not(repo: Path) -> None:
    found = compute(WorkingTree(repo))
    assert set(found) == {"sales-flows", "marketing-flows"}
    sales = found["sales-flows"]
    assert sales.members == ("flowfleet", "sales-flows")
    assert sales.package.team == "sales"
    # its lock closure: itself, the core, requests, pydantic, typing-extensions; not rich
    assert sales.locked == 5
    assert len(sales.tag) == images.TAG_LENGTH


def test_tag_is_stable_when_nothing_relevant_changes(repo: Path) -> None:
    before = tags(repo)
    write(repo / "README.md", "# demo, reworded\n")
    write(repo / "tests/test_new.py", "def test(): pass\n")
    write(repo / "flows/sales/src/sales_flows/__pycache__/etl.cpython-311.pyc", "junk")
    write(repo / "flows/sales/.venv/lib/x.py", "ignored")
    assert tags(repo) == before
    commit(repo)
    assert tags(repo) == before


def test_working_tree_and_commit_agree(repo: Path) -> None:
    assert tags(repo) == {n: i.tag for n, i in compute(GitTree(repo, "HEAD")).items()}


def test_tag_changes_with_the_package_itself(repo: Path) -> None:
    before = tags(repo)
    write(repo / "flows/sales/src/sales_flows/etl.py", "def flow():\n    return 2\n")
    after = tags(repo)
    assert after["sales-flows"] != before["sales-flows"]
    assert after["marketing-flows"] == before["marketing-flows"]


def test_an_untracked_new_module_counts(repo: Path) -> None:
    before = tags(repo)
    write(repo / "flows/sales/src/sales_flows/new.py", "X = 1\n")
    assert tags(repo)["sales-flows"] != before["sales-flows"]


def test_tag_changes_with_a_workspace_dependency(repo: Path) -> None:
    before = tags(repo)
    write(repo / "packages/flowfleet/src/flowfleet/__init__.py", "VERSION = 2\n")
    after = tags(repo)
    assert after["sales-flows"] != before["sales-flows"]
    assert after["marketing-flows"] != before["marketing-flows"]


def test_tag_changes_with_its_own_locked_dependencies_only(repo: Path) -> None:
    before = tags(repo)
    write(repo / "uv.lock", lock_text({**VERSIONS, "requests": "2.32"}))
    after = tags(repo)
    assert after["sales-flows"] != before["sales-flows"]
    assert after["marketing-flows"] == before["marketing-flows"]


def test_tag_changes_with_a_transitive_locked_dependency(repo: Path) -> None:
    before = tags(repo)
    write(repo / "uv.lock", lock_text({**VERSIONS, "typing-extensions": "4.1"}))
    after = tags(repo)
    assert after["sales-flows"] != before["sales-flows"]
    assert after["marketing-flows"] != before["marketing-flows"]


def test_tag_is_stable_when_another_team_changes(repo: Path) -> None:
    before = tags(repo)
    write(repo / "flows/marketing/src/marketing_flows/etl.py", "def flow():\n    return 3\n")
    write(repo / "uv.lock", lock_text({**VERSIONS, "rich": "14.0"}))
    after = tags(repo)
    assert after["sales-flows"] == before["sales-flows"]
    assert after["marketing-flows"] != before["marketing-flows"]


def test_a_new_team_leaves_existing_tags_alone(repo: Path) -> None:
    before = tags(repo)
    write(repo / "flows/billing/pyproject.toml", TEAM_PYPROJECT.format(team="billing", dep="rich"))
    after = tags(repo)
    assert "billing-flows" in after
    assert {k: after[k] for k in before} == before


def test_the_image_recipe_changes_every_tag(repo: Path) -> None:
    before = tags(repo)
    write(repo / "infra/docker/Dockerfile", "FROM python:3.12-slim\n")
    after = tags(repo)
    assert all(after[name] != before[name] for name in before)


def test_changed_marks_only_the_touched_package(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    workspace = Workspace(repo, "demo")
    assert images.changed(workspace, base) == {"include": []}
    write(repo / "flows/sales/src/sales_flows/etl.py", "def flow():\n    return 2\n")
    commit(repo)
    matrix = images.changed(workspace, base)
    assert [row["package"] for row in matrix["include"]] == ["sales-flows"]
    row = matrix["include"][0]
    assert row == {
        "package": "sales-flows",
        "team": "sales",
        "path": "flows/sales",
        "image": "sales-flows",
        "tag": tags(repo)["sales-flows"],
    }


def test_changed_marks_every_package_when_the_core_changes(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    write(repo / "packages/flowfleet/src/flowfleet/__init__.py", "VERSION = 2\n")
    commit(repo)
    matrix = images.changed(Workspace(repo, "demo"), base)
    assert sorted(row["package"] for row in matrix["include"]) == [
        "marketing-flows",
        "sales-flows",
    ]


def test_changed_sees_uncommitted_work_and_new_packages(repo: Path) -> None:
    write(repo / "flows/billing/pyproject.toml", TEAM_PYPROJECT.format(team="billing", dep="rich"))
    matrix = images.changed(Workspace(repo, "demo"), "HEAD")
    assert [row["package"] for row in matrix["include"]] == ["billing-flows"]


def test_changed_without_a_base_lists_everything(repo: Path) -> None:
    matrix = images.changed(Workspace(repo, "demo"), None)
    assert len(matrix["include"]) == 2


def test_changed_rejects_an_unknown_base(repo: Path) -> None:
    with pytest.raises(FlowfleetError, match="unknown git revision"):
        images.changed(Workspace(repo, "demo"), "no-such-ref")


def test_a_workspace_in_a_subfolder_of_the_repo(tmp_path: Path, repo: Path) -> None:
    outer = tmp_path / "outer"
    (outer / "sub").mkdir(parents=True)
    subprocess.run(["cp", "-r", f"{repo}/.", str(outer / "sub")], check=True)
    subprocess.run(["rm", "-rf", str(outer / "sub" / ".git")], check=True)
    git(outer, "init", "-q")
    commit(outer)
    sub = outer / "sub"
    assert tags(sub) == tags(repo)
    assert {n: i.tag for n, i in compute(GitTree(sub, "HEAD")).items()} == tags(repo)


def test_outside_git_the_files_are_walked(tmp_path: Path, repo: Path) -> None:
    plain = tmp_path / "plain"
    subprocess.run(["cp", "-r", str(repo), str(plain)], check=True)
    subprocess.run(["rm", "-rf", str(plain / ".git")], check=True)
    write(plain / "flows/sales/src/sales_flows/__pycache__/x.pyc", "junk")
    assert tags(plain) == tags(repo)


def test_image_tag_overrides_every_tag(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    workspace = Workspace(repo, "demo")
    monkeypatch.delenv("IMAGE_TAG", raising=False)
    assert images.image_tags(workspace) == tags(repo)
    assert set(images.image_tags(workspace, "v1").values()) == {"v1"}
    monkeypatch.setenv("IMAGE_TAG", "ci-42")
    assert set(images.image_tags(workspace).values()) == {"ci-42"}
    assert set(images.image_tags(workspace, "v1").values()) == {"v1"}


def test_find_by_team_distribution_or_image_name(repo: Path) -> None:
    found = compute(WorkingTree(repo))
    for name in ("sales", "sales-flows", "sales_flows", "SALES-flows"):
        assert images.find(found, name).package.name == "sales-flows"
    with pytest.raises(FlowfleetError, match="known: marketing"):
        images.find(found, "billing")


# --- the CLI -------------------------------------------------------------------------------


@pytest.fixture
def cli(repo: Path, monkeypatch: pytest.MonkeyPatch):
    from flowfleet.cli import _register_commands, app

    _register_commands()
    write(repo / "infra/environments/dev.toml", 'image_registry = "ghcr.io/acme"\n')
    monkeypatch.setenv("FLOWFLEET_ROOT", str(repo))
    monkeypatch.delenv("IMAGE_TAG", raising=False)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args), catch_exceptions=False)


def test_cli_tags_json(cli, repo: Path) -> None:
    result = cli("images", "tags", "--env", "dev", "--output", "json")
    assert result.exit_code == 0, result.output
    rows = {row["package"]: row for row in json.loads(result.stdout)}
    assert rows["sales-flows"]["image"] == f"ghcr.io/acme/sales-flows:{tags(repo)['sales-flows']}"


def test_cli_changed_prints_one_line_of_json(cli, repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    write(repo / "flows/marketing/src/marketing_flows/etl.py", "def flow():\n    return 9\n")
    result = cli("images", "changed", "--base", base, "--env", "dev")
    assert result.exit_code == 0, result.output
    assert len(result.stdout.strip().splitlines()) == 1
    matrix = json.loads(result.stdout)
    assert [r["image"] for r in matrix["include"]] == ["ghcr.io/acme/marketing-flows"]


def test_cli_build_dry_run(cli, repo: Path) -> None:
    result = cli(
        "images", "build", "sales", "--env", "dev", "--engine", "podman", "--push",
        "--image-tag", "v7", "--dry-run", "--", "--pull=never",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "ghcr.io/acme/sales-flows:v7"
    assert (
        f"podman build -f {repo}/infra/docker/Dockerfile --build-arg PACKAGE=sales-flows "
        f"-t ghcr.io/acme/sales-flows:v7 --pull=never {repo}"
    ) in result.stderr
    assert "podman push ghcr.io/acme/sales-flows:v7" in result.stderr
