"""scripts/pr_comment.py against a loopback server playing GitHub's issues-comments API."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from conftest import ROOT

SCRIPT = ROOT / "scripts" / "pr_comment.py"
TOKEN = "ghs_loopbacktoken123"
REPO = "acme/fleet"


class FakeGitHub:
    """Comments of one repository's pull requests, and every request the script made."""

    def __init__(self) -> None:
        self.comments: dict[int, list[dict]] = {}
        self.requests: list[tuple[str, str]] = []
        self.next_id = 1000

    def add(self, number: int, body: str) -> dict:
        self.next_id += 1
        comment = {"id": self.next_id, "body": body, "user": {"login": "someone"}}
        self.comments.setdefault(number, []).append(comment)
        return comment

    def handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def reply(self, status: int, payload: object) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def handle_any(self, method: str) -> None:
                url = urlparse(self.path)
                fake.requests.append((method, url.path))
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self.reply(401, {"message": "Bad credentials"})
                length = int(self.headers.get("Content-Length") or 0)
                payload = json.loads(self.rfile.read(length)) if length else None
                listing = re.fullmatch(rf"/repos/{REPO}/issues/(\d+)/comments", url.path)
                one = re.fullmatch(rf"/repos/{REPO}/issues/comments/(\d+)", url.path)
                if listing and method == "GET":
                    query = parse_qs(url.query)
                    per_page = int(query.get("per_page", ["30"])[0])
                    page = int(query.get("page", ["1"])[0])
                    rows = fake.comments.get(int(listing.group(1)), [])
                    return self.reply(200, rows[(page - 1) * per_page : page * per_page])
                if listing and method == "POST":
                    if len(payload["body"]) > 65_536:
                        return self.reply(422, {"message": "body is too long"})
                    return self.reply(201, fake.add(int(listing.group(1)), payload["body"]))
                if one and method == "PATCH":
                    for rows in fake.comments.values():
                        for comment in rows:
                            if comment["id"] == int(one.group(1)):
                                comment["body"] = payload["body"]
                                return self.reply(200, comment)
                    return self.reply(404, {"message": "Not Found"})
                return self.reply(404, {"message": "Not Found"})

            def do_GET(self) -> None:
                self.handle_any("GET")

            def do_POST(self) -> None:
                self.handle_any("POST")

            def do_PATCH(self) -> None:
                self.handle_any("PATCH")

        return Handler


@pytest.fixture
def github() -> Iterator[tuple[FakeGitHub, str]]:
    fake = FakeGitHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), fake.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def post(api_url: str, *files: Path, token: str | None = TOKEN, pr: str = "7"):
    env = {
        "PATH": "/usr/bin:/bin",
        "GITHUB_API_URL": api_url,
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_RUN_ID": "42",
        "PR_NUMBER": pr,
    }
    if token is not None:
        env["GITHUB_TOKEN"] = token
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, files)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_first_push_creates_the_comment_and_the_second_edits_it(github, tmp_path):
    fake, url = github
    for i in range(130):  # the bot's comment lands on the second page of 100
        fake.add(7, f"review comment {i}")
    dev, prod = tmp_path / "dev.md", tmp_path / "prod.md"
    dev.write_text("### `dev`: deploy\n\n**✅ deployed** (1 updated)\n")
    prod.write_text("### `prod`: plan\n\n**📝 1 to update to apply**\n")

    first = post(url, dev, prod)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("created comment ")
    ours = [c for c in fake.comments[7] if "flowfleet" in c["body"]]
    assert len(ours) == 1 and "**✅ deployed** (1 updated)" in ours[0]["body"]
    assert "**📝 1 to update to apply**" in ours[0]["body"]
    assert "https://github.com/acme/fleet/actions/runs/42" in ours[0]["body"]

    dev.write_text("### `dev`: deploy\n\n**❌ deploy failed for 1 deployment(s)**\n")
    second = post(url, dev, prod)
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith(f"updated comment {ours[0]['id']} ")
    ours_now = [c for c in fake.comments[7] if "flowfleet" in c["body"]]
    assert [c["id"] for c in ours_now] == [ours[0]["id"]]  # the same one, edited
    assert "deploy failed" in ours_now[0]["body"] and "deployed** (1" not in ours_now[0]["body"]
    assert len(fake.comments[7]) == 131
    assert ("PATCH", f"/repos/{REPO}/issues/comments/{ours[0]['id']}") in fake.requests
    assert fake.comments.get(8) is None  # other pull requests untouched


def test_a_missing_section_says_its_job_failed(github, tmp_path):
    fake, url = github
    prod = tmp_path / "prod.md"
    prod.write_text("### `prod`: plan\n\n**✅ no changes**\n")
    done = post(url, tmp_path / "dev.md", prod)
    assert done.returncode == 0, done.stderr
    body = fake.comments[7][0]["body"]
    assert "### `dev`" in body and "failed before flowfleet printed one" in body


def test_an_oversized_body_is_cut_to_the_limit(github, tmp_path):
    fake, url = github
    big = tmp_path / "dev.md"
    big.write_text("x" * 70_000)
    done = post(url, big)
    assert done.returncode == 0, done.stderr
    assert len(fake.comments[7][0]["body"]) <= 65_536


def test_a_missing_token_fails_with_one_line(github, tmp_path):
    fake, url = github
    section = tmp_path / "dev.md"
    section.write_text("### `dev`\n")
    done = post(url, section, token=None)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: GITHUB_TOKEN is not set")
    assert fake.requests == []


def test_a_rejected_token_fails_with_one_line_and_no_secret(github, tmp_path):
    fake, url = github
    section = tmp_path / "dev.md"
    section.write_text("### `dev`\n")
    done = post(url, section, token="ghs_wrong_token_456")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"error: GitHub answered 401 to GET /repos/{REPO}/issues/7/comments?per_page=100&page=1: "
        "Bad credentials"
    )
    assert "ghs_wrong" not in done.stderr + done.stdout
