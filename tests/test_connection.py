"""Which server, with which credentials, retried how: pure logic, no server."""

from __future__ import annotations

import base64
import ssl
from types import SimpleNamespace

import pytest

from flowfleet import prefect_settings
from flowfleet.connection import Connection, resolve_target
from flowfleet.environments import Environment
from flowfleet.prefect_settings import PrefectSettings
from flowfleet.problems import FlowfleetError
from flowfleet.retry import RetryPolicy, retry_after


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """No PREFECT_* from the outside, no files in the working folder, an empty home."""
    for variable in prefect_settings.KEYS.values():
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv("PREFECT_PROFILES_PATH", raising=False)
    monkeypatch.delenv("PREFECT_PROFILE", raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)


def profile_settings(**values) -> PrefectSettings:
    where = "Prefect profile 'team' (profiles.toml)"
    return PrefectSettings(values, dict.fromkeys(values, where), used_prefect=True)


def test_precedence_exported_then_environment_file_then_prefect_settings(monkeypatch):
    pinned = Environment(name="prod", api_url="https://pinned/api")
    bare = Environment(name="prod")
    profile = profile_settings(url="https://profile/api")

    monkeypatch.setenv("PREFECT_API_URL", "https://exported/api/")
    target = resolve_target(pinned, profile)
    assert (target.url, target.source) == (
        "https://exported/api",
        "PREFECT_API_URL in the environment",
    )
    monkeypatch.delenv("PREFECT_API_URL")

    target = resolve_target(pinned, profile)
    assert (target.url, target.source) == (
        "https://pinned/api",
        "api_url in infra/environments/prod.toml",
    )
    assert "Prefect profile 'team' (profiles.toml) names https://profile/api" in target.describe()

    target = resolve_target(bare, profile)
    assert (target.url, target.source) == (
        "https://profile/api",
        "Prefect profile 'team' (profiles.toml)",
    )

    with pytest.raises(FlowfleetError, match="nothing names a server"):
        resolve_target(bare, PrefectSettings())


def test_the_environment_alone_decides_without_importing_prefect(monkeypatch, tmp_path):
    monkeypatch.setenv("PREFECT_API_URL", "http://x/api")
    monkeypatch.setenv("PREFECT_CLIENT_MAX_RETRIES", "2")
    monkeypatch.setenv("PREFECT_CLIENT_CUSTOM_HEADERS", '{"X-Team": "sales"}')
    settings = prefect_settings.load()
    assert not settings.used_prefect
    assert settings.get("max_retries") == 2 and settings.get("custom_headers") == {
        "X-Team": "sales"
    }

    home = tmp_path / "home"
    home.mkdir()
    (home / "profiles.toml").write_text(
        'active = "team"\n[profiles.team]\nPREFECT_API_URL = "http://profile/api"\n'
    )
    assert prefect_settings.load().used_prefect is False, "an exported URL wins: no import"
    monkeypatch.delenv("PREFECT_API_URL")
    settings = prefect_settings.load()
    assert settings.used_prefect and settings.get("url") == "http://profile/api"
    assert settings.sources["url"] == f"Prefect profile 'team' ({home / 'profiles.toml'})"


def test_prefect_toml_is_read_through_prefects_own_model(tmp_path):
    (tmp_path / "prefect.toml").write_text('[api]\nurl = "http://from-toml/api"\n')
    settings = prefect_settings.load()
    assert settings.used_prefect and settings.get("url") == "http://from-toml/api"
    assert settings.sources["url"] == str(tmp_path / "prefect.toml")


def test_credentials_auth_string_wins_and_file_credentials_stay_with_their_server():
    both = PrefectSettings(
        {"url": "http://a/api", "auth_string": "u:p", "key": "k123"},
        {
            "url": "env",
            "auth_string": "PREFECT_API_AUTH_STRING in the environment",
            "key": "PREFECT_API_KEY in the environment",
        },
    )
    connection = Connection.to("http://a/api", both)
    assert connection.auth_header == "Basic " + base64.b64encode(b"u:p").decode()
    assert connection.credential.startswith("PREFECT_API_AUTH_STRING")

    profile = profile_settings(url="http://a/api", key="pnu_profilekey")
    assert Connection.to("http://a/api", profile).auth_header == "Bearer pnu_profilekey"
    assert Connection.to("http://other/api", profile).auth_header is None


def test_csrf_off_for_cloud_tls_and_headers_honoured(tmp_path):
    cloud = Connection.to(
        "https://api.prefect.cloud/api/accounts/a/workspaces/w", PrefectSettings()
    )
    assert cloud.csrf is False
    assert Connection.to("http://self-hosted/api", PrefectSettings()).csrf is True
    insecure = Connection.to("https://x/api", PrefectSettings({"tls_insecure_skip_verify": True}))
    assert isinstance(insecure.verify, ssl.SSLContext)
    assert insecure.verify.verify_mode == ssl.CERT_NONE
    headers = PrefectSettings({"custom_headers": {"X-Team": "a", "User-Agent": "no"}})
    assert Connection.to("http://x/api", headers).headers == {"X-Team": "a"}


def answer(status: int, **headers: str):
    return SimpleNamespace(status_code=status, headers=headers)


def test_retry_policy_honours_retry_after_and_bounds_every_kind():
    policy = RetryPolicy()
    started = __import__("time").monotonic()
    assert policy.pause(1, started, answer(429, **{"Retry-After": "2"})) == 2
    assert policy.pause(1, started, answer(503)) == pytest.approx(0.2)
    assert policy.pause(3, started, answer(503)) == pytest.approx(0.8)
    assert policy.pause(1, started, None) == 0.5
    assert policy.pause(3, started, None) is None, "unreachable: three tries"
    assert policy.pause(1, started - 301, answer(503)) is None, "busy for too long"
    bounded = RetryPolicy.from_settings(
        PrefectSettings(
            {"max_retries": 1}, {"max_retries": "PREFECT_CLIENT_MAX_RETRIES in the environment"}
        )
    )
    assert bounded.pause(1, started, answer(503)) is not None
    assert bounded.pause(2, started, answer(429, **{"Retry-After": "1"})) is None
    assert retry_after(answer(429, **{"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0.0
    assert retry_after(answer(429)) is None
