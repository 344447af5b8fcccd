"""The user's Prefect connection settings, resolved the way Prefect resolves them.

Prefect reads, highest first: the process environment, `.env`, `prefect.toml`,
`pyproject.toml` `[tool.prefect]`, then the active profile (`prefect config set`,
`prefect cloud login`). Reading them through `prefect.settings` means importing
prefect, which costs seconds (measured in docs/guide.md, "Connecting"); a no-op
deploy deliberately avoids it. So this module first looks, cheaply, whether any
file could set a connection setting at all: only then does it ask Prefect's own
settings model. With none (CI, or a machine where everything is exported) the
process environment alone decides, exactly as Prefect would decide.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# flowfleet's name for a setting -> Prefect's variable (profile and .env key).
KEYS = {
    "url": "PREFECT_API_URL",
    "key": "PREFECT_API_KEY",
    "auth_string": "PREFECT_API_AUTH_STRING",
    "ssl_cert_file": "PREFECT_API_SSL_CERT_FILE",
    "tls_insecure_skip_verify": "PREFECT_API_TLS_INSECURE_SKIP_VERIFY",
    "custom_headers": "PREFECT_CLIENT_CUSTOM_HEADERS",
    "max_retries": "PREFECT_CLIENT_MAX_RETRIES",
    "request_timeout": "PREFECT_API_REQUEST_TIMEOUT",
    "csrf_support_enabled": "PREFECT_CLIENT_CSRF_SUPPORT_ENABLED",
    "cloud_api_url": "PREFECT_CLOUD_API_URL",
}
CREDENTIALS = ("key", "auth_string")
DEFAULT_CLOUD_API_URL = "https://api.prefect.cloud/api"


@dataclass(frozen=True)
class PrefectSettings:
    """The connection settings, and where the ones that matter came from."""

    values: dict[str, Any] = field(default_factory=dict, repr=False)
    sources: dict[str, str] = field(default_factory=dict)  # setting -> where it came from
    used_prefect: bool = False  # True when prefect's own settings model was asked

    def get(self, name: str, default: Any = None) -> Any:
        value = self.values.get(name)
        return default if value is None else value


def load() -> PrefectSettings:
    """Prefect's view of the connection settings; cheap unless a file could set one."""
    files = setting_files()
    from_files = {variable for variables in files.values() for variable in variables}
    if all(os.environ.get(variable) not in (None, "") for variable in from_files):
        return _from_environment()  # the environment wins over every file: no import
    return _from_prefect(files)


def _from_environment() -> PrefectSettings:
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, variable in KEYS.items():
        raw = os.environ.get(variable)
        if raw not in (None, ""):
            values[name] = _parse(name, raw)
            sources[name] = f"{variable} in the environment"
    return PrefectSettings(values, sources)


def _parse(name: str, raw: str) -> Any:
    if name in ("tls_insecure_skip_verify", "csrf_support_enabled"):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if name == "max_retries":
        return int(raw)
    if name == "request_timeout":
        return float(raw)
    if name == "custom_headers":
        return json.loads(raw) if raw.strip() else {}
    return raw


def _from_prefect(files: dict[str, dict[str, str]]) -> PrefectSettings:
    """Ask Prefect's own settings model (env, .env, prefect.toml, pyproject, profile)."""
    from prefect.settings.models.root import Settings

    settings = Settings()
    api, client = settings.api, settings.client
    key = api.key.get_secret_value() if api.key else None
    values = {
        "url": api.url,
        "key": key,
        "auth_string": api.auth_string.get_secret_value() if api.auth_string else None,
        "ssl_cert_file": api.ssl_cert_file,
        "tls_insecure_skip_verify": api.tls_insecure_skip_verify,
        "custom_headers": dict(client.custom_headers or {}),
        "max_retries": client.max_retries,
        "request_timeout": api.request_timeout,
        "csrf_support_enabled": client.csrf_support_enabled,
        "cloud_api_url": settings.cloud.api_url,
    }
    sources: dict[str, str] = {}
    for name, variable in KEYS.items():
        if os.environ.get(variable) not in (None, ""):
            sources[name] = f"{variable} in the environment"
            continue
        for where, keys in files.items():  # highest first, as Prefect reads them
            if variable in keys:
                sources[name] = where
                break
    return PrefectSettings(values, sources, used_prefect=True)


def setting_files() -> dict[str, dict[str, str]]:
    """Files, highest first, that set a connection setting: description -> the variables
    they set. Empty means the process environment alone decides. Cheap: no prefect."""
    found: dict[str, dict[str, str]] = {}
    wanted = set(KEYS.values())
    dotenv = Path(".env")
    if dotenv.is_file():
        keys = {
            k.strip().removeprefix("export ").strip(): ""
            for k, _, _ in (line.partition("=") for line in dotenv.read_text().splitlines())
        }
        if hit := wanted & set(keys):
            found[f"{dotenv.resolve()}"] = dict.fromkeys(hit, "")
    for path, header in (("prefect.toml", ()), ("pyproject.toml", ("tool", "prefect"))):
        table = _toml(Path(path))
        for part in header:
            table = table.get(part, {}) if isinstance(table, dict) else {}
        if hit := _toml_variables(table):
            found[str(Path(path).resolve())] = dict.fromkeys(hit, "")
    name, path, profile = active_profile()
    if hit := wanted & set(profile):
        found[f"Prefect profile '{name}' ({path})"] = dict.fromkeys(hit, "")
    return found


def _toml_variables(table: Any) -> set[str]:
    """The PREFECT_* variables a prefect.toml-shaped table sets (`[api] url = ...`)."""
    if not isinstance(table, dict):
        return set()
    names = set()
    for section, items in table.items():
        if isinstance(items, dict):
            names.update(f"PREFECT_{section}_{k}".upper() for k in items)
        elif section.upper().startswith("PREFECT_"):
            names.add(section.upper())
    return names & set(KEYS.values())


def _toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def profiles_path() -> Path:
    """Where Prefect keeps profiles (its `_get_profiles_path`, minus the rare file overrides)."""
    if path := os.environ.get("PREFECT_PROFILES_PATH"):
        return Path(path)
    home = os.environ.get("PREFECT_HOME")
    return (Path(home).expanduser() if home else Path.home() / ".prefect") / "profiles.toml"


def active_profile() -> tuple[str, Path, dict[str, Any]]:
    """(name, file, settings) of the active profile; empty settings when there is none."""
    path = profiles_path()
    data = _toml(path)
    name = os.environ.get("PREFECT_PROFILE") or data.get("active") or "ephemeral"
    profile = (data.get("profiles") or {}).get(name) or {}
    return str(name), path, {str(k).upper(): v for k, v in profile.items()}
