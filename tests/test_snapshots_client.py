"""The suite's plain-HTTP helper retries a busy server's 503, and only that."""

from __future__ import annotations

import httpx
import pytest

import snapshots
from snapshots import ServerClient


def client_answering(statuses: list[int], seen: list[bytes]) -> ServerClient:
    answers = iter(statuses)

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        return httpx.Response(next(answers), json={"id": "x"})

    return ServerClient("http://127.0.0.1:9/api", transport=httpx.MockTransport(answer))


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snapshots.time, "sleep", lambda seconds: None)


def test_a_503_is_sent_again_with_the_same_body() -> None:
    seen: list[bytes] = []
    with client_answering([503, 503, 201], seen) as client:
        response = client.post("/deployments/", json={"name": "d"})
    assert response.status_code == 201
    assert seen == [b'{"name":"d"}'] * 3


@pytest.mark.parametrize("status", [200, 404, 409, 500])
def test_other_answers_are_returned_at_once(status: int) -> None:
    seen: list[bytes] = []
    with client_answering([status], seen) as client:
        assert client.post("/work_pools/", json={}).status_code == status
    assert len(seen) == 1


def test_a_server_that_stays_busy_gets_five_tries_then_its_503() -> None:
    seen: list[bytes] = []
    with client_answering([503] * 5, seen) as client:
        assert client.get("/health").status_code == 503
    assert len(seen) == 5
