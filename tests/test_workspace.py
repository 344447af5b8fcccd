"""Workspace members as uv finds them: `members` globs minus `exclude` globs (server-free)."""

from __future__ import annotations

from pathlib import Path

from flowfleet.gittree import WorkingTree
from flowfleet.workspace import Workspace, find_members, workspace_closure

ROOT_PYPROJECT = """\
[tool.uv.workspace]
members = ["packages/*", "flows/*"]
exclude = ["flows/legacy", "packages/scratch*"]
"""


def package(root: Path, folder: str, name: str, extra: str = "") -> None:
    path = root / folder
    path.mkdir(parents=True)
    (path / "pyproject.toml").write_text(f'[project]\nname = "{name}"\n{extra}')


def test_members_honour_uvs_exclude_and_merge_what_loading_and_images_need(
    tmp_path: Path,
) -> None:
    (tmp_path / "pyproject.toml").write_text(ROOT_PYPROJECT)
    package(tmp_path, "packages/core", "core", "dependencies = ['pydantic>=2']\n")
    package(tmp_path, "packages/scratch-1", "scratch")
    package(tmp_path, "flows/legacy", "legacy-flows")
    package(
        tmp_path,
        "flows/sales",
        "Sales_Flows",
        "dependencies = ['core', 'rich[jupyter]>=13']\n"
        '[project.entry-points.flowfleet]\nsales = "sales_flows:registry"\n'
        '[tool.flowfleet]\nimage = "sales"\nstorage = "git"\n',
    )
    package(tmp_path, "docs", "not-a-member")

    members = find_members(WorkingTree(tmp_path))  # no git here: the files are walked
    assert list(members) == ["core", "sales-flows"]
    sales, core = members["sales-flows"], members["core"]
    assert (sales.path, sales.team, sales.image_name) == ("flows/sales", "sales", "sales")
    assert sales.dependencies == ("core", "rich")
    assert sales.options == {"image": "sales", "storage": "git"}
    assert sales.is_flow_package and not core.is_flow_package
    assert workspace_closure("sales-flows", members) == ["core", "sales-flows"]

    workspace = Workspace(tmp_path, "demo")
    assert workspace.members == members
    assert workspace.member("Sales_Flows") == sales
