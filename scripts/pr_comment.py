#!/usr/bin/env python3
"""Post flowfleet's plan sections as ONE pull-request comment, edited in place on every push.

    python scripts/pr_comment.py dev.md prod.md

Each file is a section printed by `flowfleet plan|deploy --output github`; an empty or
missing file becomes a line saying its job did not run or failed before flowfleet
printed anything. The comment is found again by a hidden marker, so a pull request
keeps one comment however often it is pushed. Only the standard library and GitHub's
REST API, with the workflow's built-in token: the job needs
`permissions: pull-requests: write`.

Environment: GITHUB_TOKEN (required), GITHUB_REPOSITORY, GITHUB_API_URL, and the pull
request's number from PR_NUMBER or the event payload (GITHUB_EVENT_PATH).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

MARKER = "<!-- flowfleet:pr-comment -->"
LIMIT = 65_536  # GitHub rejects a longer comment body
PAGE = 100


class Failure(Exception):
    """One line for the log; the script exits 1."""


def body_from(files: list[Path], run_url: str | None, sha: str | None) -> str:
    sections = []
    for path in files:
        text = path.read_text().strip() if path.is_file() else ""
        if not text:
            where = f" ([run]({run_url}))" if run_url else ""
            text = (
                f"### `{path.stem}`\n\n**❌ no plan:** its job did not run (an earlier job "
                f"failed) or failed before flowfleet printed one; see the log{where}."
            )
        sections.append(text)
    footer = "_Updated by flowfleet"
    if sha:
        footer += f" for {sha[:12]}"
    if run_url:
        footer += f" in [this run]({run_url})"
    footer += "; this comment is edited in place on every push._"
    head = f"{MARKER}\n## flowfleet: what this pull request changes\n\n"
    body = head + "\n\n---\n\n".join(sections) + f"\n\n{footer}\n"
    if len(body) > LIMIT:  # flowfleet summarises to fit; this is the last line of defence
        note = f"\n\n_…cut to GitHub's {LIMIT:,}-character limit; see the job summaries._\n"
        body = body[: LIMIT - len(note)] + note
    return body


class GitHub:
    def __init__(self, api_url: str, token: str, repository: str):
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.repository = repository

    def request(self, method: str, path: str, payload: dict | None = None) -> tuple[object, dict]:
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(
            f"{self.api_url}{path}",
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": "flowfleet-pr-comment",
                **({"Content-Type": "application/json"} if data else {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read() or b"null"), dict(response.headers)
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            with contextlib.suppress(ValueError, AttributeError):
                detail = json.loads(detail).get("message", detail)
            raise Failure(
                f"GitHub answered {exc.code} to {method} {path}: {detail.strip()[:200]}"
            ) from None
        except urllib.error.URLError as exc:
            raise Failure(f"cannot reach GitHub at {self.api_url}: {exc.reason}") from None

    def find_comment(self, number: int) -> int | None:
        """The id of the comment carrying the marker, reading every page of comments."""
        page = 1
        while True:
            query = urllib.parse.urlencode({"per_page": PAGE, "page": page})
            path = f"/repos/{self.repository}/issues/{number}/comments?{query}"
            comments, _ = self.request("GET", path)
            for comment in comments or []:
                if MARKER in (comment.get("body") or ""):
                    return int(comment["id"])
            if not comments or len(comments) < PAGE:
                return None
            page += 1

    def upsert(self, number: int, body: str) -> tuple[str, int]:
        found = self.find_comment(number)
        if found is None:
            created, _ = self.request(
                "POST", f"/repos/{self.repository}/issues/{number}/comments", {"body": body}
            )
            return "created", int(created["id"])
        self.request("PATCH", f"/repos/{self.repository}/issues/comments/{found}", {"body": body})
        return "updated", found


def pull_request_number(explicit: str | None) -> int:
    if explicit:
        return int(explicit)
    event_path = os.environ.get("GITHUB_EVENT_PATH")
    if event_path and Path(event_path).is_file():
        event = json.loads(Path(event_path).read_text())
        number = (event.get("pull_request") or {}).get("number") or event.get("number")
        if number:
            return int(number)
    raise Failure("no pull request number: run on a pull_request event or set PR_NUMBER")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sections", nargs="+", type=Path, help="files from --output github")
    parser.add_argument("--pr", default=os.environ.get("PR_NUMBER"), help="pull request number")
    args = parser.parse_args(argv)
    try:
        token = os.environ.get("GITHUB_TOKEN")
        if not token:
            raise Failure(
                "GITHUB_TOKEN is not set: pass `env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}` "
                "to the step and give the job `permissions: pull-requests: write`"
            )
        repository = os.environ.get("GITHUB_REPOSITORY")
        if not repository:
            raise Failure("GITHUB_REPOSITORY is not set (owner/name)")
        server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
        run_id = os.environ.get("GITHUB_RUN_ID")
        run_url = f"{server}/{repository}/actions/runs/{run_id}" if run_id else None
        body = body_from(args.sections, run_url, os.environ.get("PR_HEAD_SHA"))
        github = GitHub(
            os.environ.get("GITHUB_API_URL", "https://api.github.com"), token, repository
        )
        action, comment_id = github.upsert(pull_request_number(args.pr), body)
    except Failure as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{action} comment {comment_id} ({len(body):,} characters)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
