"""Stock pool templates kept on disk (template_store.py): which are kept, and the file.

A cold run that takes them from disk is in tests/test_cache.py (real processes)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from flowfleet import InfraConfig
from flowfleet import template_store as store
from flowfleet.infra import templates
from flowfleet.infra.templates import learned, stock_name, stock_template
from flowfleet.infra.worker import Worker


class WorkspaceInfra(InfraConfig):
    """An infra type whose code lives in the workspace: it may change under one install."""

    type: Literal["zz-workspace"] = "zz-workspace"
    pool_type: ClassVar[str] = "zz-pool"

    @classmethod
    def base_job_template(cls) -> dict[str, Any] | None:
        return {"job_configuration": {}, "variables": {"properties": {}}}


def test_a_template_made_by_installed_code_is_kept_and_one_from_the_workspace_is_not():
    assert stock_template(Worker, "process")  # Prefect's process worker: installed
    assert stock_name(Worker, "process") in learned()

    assert stock_template(WorkspaceInfra, "zz-pool") == WorkspaceInfra.base_job_template()
    assert stock_name(WorkspaceInfra, "zz-pool") not in learned()


def test_the_file_round_trips_and_a_broken_one_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setattr(templates, "_known", {})
    path = store.store_file(tmp_path)
    assert path.parent == tmp_path / "templates"
    assert store.store_file(tmp_path) == path  # one install, one name

    template = {"variables": {"properties": {"image": {"type": "string"}}}}
    templates.learn({"some.Infra ecs": template, "some.Infra none": None})
    store.save(path, known_before=0)
    monkeypatch.setattr(templates, "_known", {})
    assert store.load(path) == 2
    assert learned() == {"some.Infra ecs": template, "some.Infra none": None}

    before = path.read_text()
    store.save(path, known_before=2)  # nothing new learnt: nothing written
    assert path.read_text() == before

    path.write_text("{not json")
    monkeypatch.setattr(templates, "_known", {})
    assert store.load(path) == 0 and learned() == {}
