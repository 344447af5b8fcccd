"""Git branches: which one we are on, which ones an environment allows, branch names.

Pure helpers plus two small `git` calls (the current branch, the remote's live
branches). Nothing here talks to Prefect.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import subprocess
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from flowfleet.environments import Environment
from flowfleet.problems import FlowfleetError, Problem

OVERRIDE_VAR = "FLOWFLEET_BRANCH"
# First non-empty wins. GITHUB_HEAD_REF is a pull request's source branch (empty on
# pushes), GITHUB_REF_NAME the pushed branch, CI_COMMIT_REF_NAME GitLab's.
BRANCH_VARS = (OVERRIDE_VAR, "GITHUB_HEAD_REF", "GITHUB_REF_NAME", "CI_COMMIT_REF_NAME")

SLUG_MAX = 30  # characters of the branch kept in a deployment name
HASH_LEN = 8  # hex characters of sha256(raw branch name)
SUFFIX_SEP = "--"


def current_branch(root: Path, environ: Mapping[str, str] | None = None) -> str:
    """The branch being deployed: the first set variable of BRANCH_VARS, else git's HEAD."""
    environ = os.environ if environ is None else environ
    for var in BRANCH_VARS:
        value = (environ.get(var) or "").strip()
        if value:
            return value
    head = _git(root, "rev-parse", "--abbrev-ref", "HEAD")
    if head is None:  # an unborn branch (no commit yet) still has a name
        head = _git(root, "symbolic-ref", "--short", "-q", "HEAD")
    if head == "HEAD":
        raise FlowfleetError(
            Problem(
                f"cannot tell the branch: git HEAD is detached in {root} and none of "
                f"{', '.join(BRANCH_VARS)} is set",
                fix=f"set {OVERRIDE_VAR}=<branch name>, or pass --branch NAME",
            )
        )
    if not head:
        raise FlowfleetError(
            Problem(
                f"cannot tell the branch: {root} is not a git checkout and none of "
                f"{', '.join(BRANCH_VARS)} is set",
                fix=f"set {OVERRIDE_VAR}=<branch name>, or pass --branch NAME",
            )
        )
    return head


def matches(branch: str, globs: Iterable[str]) -> bool:
    """True if `branch` matches one of the globs (fnmatch, case-sensitive; `*` spans `/`)."""
    return any(fnmatch.fnmatchcase(branch, pattern) for pattern in globs)


def check_allowed(environment: Environment, branch: str) -> None:
    """Refuse a branch the environment's `branches` globs do not allow."""
    globs = environment.branches
    if globs is not None and not matches(branch, globs):
        raise FlowfleetError(
            Problem(
                f"environment '{environment.name}' may not be deployed from branch "
                f"'{branch}' (allowed: {', '.join(globs) or 'none'}); nothing was changed",
                fix=f"deploy from a branch matching {globs}, or change `branches` in "
                f"infra/environments/{environment.name}.toml",
            )
        )


def lane(environment: Environment, branch: str | None) -> str | None:
    """The branch whose own deployments we are writing, or None for the mainline ones.

    Only an environment with `branch_deployments` has branch lanes, and its
    `default_branch` is the mainline.
    """
    if not environment.branch_deployments or not branch:
        return None
    return None if branch == environment.default_branch else branch


def slug(branch: str) -> str:
    """Lower-case letters, digits and single dashes, at most SLUG_MAX characters."""
    text = re.sub(r"[^a-z0-9]+", "-", branch.lower()).strip("-")
    return text[:SLUG_MAX].rstrip("-") or "branch"


def branch_hash(branch: str) -> str:
    return hashlib.sha256(branch.encode()).hexdigest()[:HASH_LEN]


def suffix(branch: str) -> str:
    """`--<slug>-<hash>`: stable, and distinct for `feat/x` and `feat-x` (the hash)."""
    return f"{SUFFIX_SEP}{slug(branch)}-{branch_hash(branch)}"


def deployment_name(name: str, branch: str) -> str:
    return f"{name}{suffix(branch)}"


def live_branches_from_git(root: Path, remote: str = "origin") -> set[str]:
    """The remote's branch names, from `git ls-remote --heads REMOTE`."""
    try:
        done = subprocess.run(
            ["git", "ls-remote", "--heads", remote],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FlowfleetError(f"git ls-remote --heads {remote} failed: {exc}") from None
    if done.returncode != 0:
        raise FlowfleetError(
            Problem(
                f"git ls-remote --heads {remote} failed: {done.stderr.strip()}",
                fix="check the remote and its credentials, or give the live branch names "
                "on stdin with --live-branches -",
            )
        )
    names = set()
    for line in done.stdout.splitlines():
        _, _, ref = line.partition("\t")
        if ref.startswith("refs/heads/"):
            names.add(ref.removeprefix("refs/heads/"))
    return names


def parse_branch_list(text: str) -> set[str]:
    """One branch name per line; blanks and `#` comments skipped, `refs/heads/` allowed."""
    names = set()
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            names.add(line.removeprefix("refs/heads/"))
    return names


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def branch_for(root: Path, environment: Environment, fleet: Callable[[], Any]) -> str | None:
    """The current branch; None when it cannot be told and nothing depends on it
    (neither the environment nor any registration declares branches). `fleet` is called
    only then: loading the fleet first would keep the resolution cache from skipping it."""
    try:
        return current_branch(root)
    except FlowfleetError:
        if (
            environment.branches is not None
            or environment.branch_deployments
            or _declares_branches(fleet())
        ):
            raise
        return None


def _declares_branches(fleet: Any) -> bool:
    return any(
        reg.config.branches is not None
        or any("branches" in override for override in reg.config.overrides.values())
        for _, reg in fleet.registrations()
    )
