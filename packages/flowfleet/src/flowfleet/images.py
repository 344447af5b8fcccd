"""Content-addressed image tags: one tag per flow package, from exactly what goes in its image.

A package's tag is a hash of:
- its own files, and the files of the workspace packages it depends on (transitively);
- its own locked dependency set: the uv.lock entries it reaches, not the whole lock file;
- the image recipe, `infra/docker/Dockerfile`.

So a package that did not change keeps its tag across commits (and its deployments stay
unchanged), and one team's change leaves every other team's tag alone. `IMAGE_TAG` (or an
explicit override) replaces every tag.

Files are hashed as git blobs (see `gittree`), so the same content gives the same hash
whether it is read from the working tree or from a commit: `changed(base)` compares the two
without checking anything out. The lock closure is `lockfile`'s job.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flowfleet.environments import Environment
from flowfleet.gittree import GitTree, Tree, WorkingTree
from flowfleet.lockfile import LOCK_FILE, Lock
from flowfleet.problems import FlowfleetError
from flowfleet.workspace import Member, Workspace, find_members, normalise, workspace_closure

DOCKERFILE = "infra/docker/Dockerfile"
TAG_LENGTH = 12
IMAGE_TAG_ENV = "IMAGE_TAG"

__all__ = ["LOCK_FILE", "GitTree", "WorkingTree", "compute", "image_tags", "changed", "find"]


@dataclass(frozen=True)
class ImageInputs:
    """One flow package's image: what it is made of and the tag that names it."""

    package: Member
    tag: str
    members: tuple[str, ...]  # the workspace packages in the image
    locked: int  # how many lock entries it reaches

    def reference(self, environment: Environment | None = None, tag: str | None = None) -> str:
        registry = environment.image_registry if environment else None
        name = self.package.image_name
        if registry and "/" not in name:
            name = f"{registry}/{name}"
        return f"{name}:{tag or self.tag}"


def compute(tree: Tree, members: Mapping[str, Member] | None = None) -> dict[str, ImageInputs]:
    """The content-addressed tag of every flow package in `tree` (whose `members` the
    caller may already hold: parsing 500 members' pyproject files twice cost 0.2 s)."""
    members = find_members(tree) if members is None else members
    lock = Lock((tree.read(LOCK_FILE) or b"").decode())
    recipe = tree.blob(DOCKERFILE) or "-"
    result = {}
    for name, package in sorted(members.items()):
        if not package.is_flow_package:
            continue
        closure = workspace_closure(name, members)
        digest = hashlib.sha256()
        digest.update(f"flowfleet-image v1\nrecipe {recipe}\n".encode())
        for member in closure:
            digest.update(f"member {member} {members[member].path}\n".encode())
            for path, blob in sorted(tree.under(members[member].path).items()):
                digest.update(f"file {path} {blob}\n".encode())
        locked = lock.closure(name)
        digest.update("".join(f"lock {entry}\n" for entry in locked).encode())  # one call
        result[name] = ImageInputs(
            package, digest.hexdigest()[:TAG_LENGTH], tuple(closure), len(locked)
        )
    return result


def override_tag(explicit: str | None = None) -> str | None:
    """The tag that replaces every content tag: `explicit`, else `IMAGE_TAG`, else None."""
    return explicit or os.environ.get(IMAGE_TAG_ENV) or None


def image_tags(workspace: Workspace, override: str | None = None) -> dict[str, str]:
    """Package -> tag for every flow package in the working tree; an override wins."""
    images = compute(workspace.tree, workspace.members)
    tag = override_tag(override)
    return {name: tag or inputs.tag for name, inputs in images.items()}


def find(images: Mapping[str, ImageInputs], name: str) -> ImageInputs:
    """A flow package by distribution name (`sales-flows`), team (`sales`) or image name."""
    wanted = normalise(name)
    for inputs in images.values():
        p = inputs.package
        if wanted in {p.name, normalise(p.team), normalise(p.image_name)}:
            return inputs
    known = ", ".join(f"{i.package.team} ({i.package.name})" for i in images.values()) or "none"
    raise FlowfleetError(f"unknown flow package '{name}' (known: {known})")


def changed(
    workspace: Workspace, base_ref: str | None, environment: Environment | None = None
) -> dict[str, Any]:
    """The flow packages whose tag differs from `base_ref`'s, as a GitHub Actions matrix.

    No base (or a package that did not exist at the base) counts as changed.
    """
    now = compute(workspace.tree)
    before = compute(GitTree(workspace.root, base_ref)) if base_ref else {}
    include = []
    for name, inputs in now.items():
        if name in before and before[name].tag == inputs.tag:
            continue
        include.append(
            {
                "package": name,
                "team": inputs.package.team,
                "path": inputs.package.path,
                "image": inputs.reference(environment).rsplit(":", 1)[0],
                "tag": inputs.tag,
            }
        )
    return {"include": include}
