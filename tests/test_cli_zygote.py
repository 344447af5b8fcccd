"""The suite's forked CLI runs behave as `subprocess.run` does (tests/cli_zygote.py).

Most CLI tests run through the zygote, so a difference here would make them pass or
fail for the harness's sake. Each case runs both ways and compares what a test reads:
exit status, stdout, stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import cli_zygote

pytestmark = pytest.mark.cli

PROBE = """\
import json, os, sys
from prefect.settings import get_current_settings
data = sys.stdin.read()
print(json.dumps({
    "argv": sys.argv[1:],
    "cwd": os.getcwd(),
    "path0": sys.path[0],
    "extra_path": sys.path[1],
    "only_here": os.environ.get("ONLY_HERE"),
    "api_url": str(get_current_settings().api.url),
    "stdin": data,
}))
print("to stderr", file=sys.stderr)
code = os.environ.get("EXIT_WITH")
sys.exit(int(code) if code and code.isdigit() else code)
"""


def both(argv: list[str], **options) -> tuple[subprocess.CompletedProcess, ...]:
    forked = cli_zygote.Zygote.get().run(argv, **options)
    plain = subprocess.run([sys.executable, *argv], capture_output=True, text=True, **options)
    return forked, plain


def same(forked: subprocess.CompletedProcess, plain: subprocess.CompletedProcess) -> None:
    assert (forked.returncode, forked.stdout, forked.stderr) == (
        plain.returncode,
        plain.stdout,
        plain.stderr,
    )


@pytest.mark.parametrize(
    "exit_with, code", [(None, 0), ("3", 3), ("a message", 1)], ids=["ok", "code", "message"]
)
def test_a_script_sees_its_own_environment_folder_path_and_stdin(
    tmp_path: Path, exit_with: str | None, code: int
) -> None:
    script = tmp_path / "bin" / "probe.py"
    script.parent.mkdir()
    script.write_text(PROBE)
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        ONLY_HERE="yes",
        PYTHONPATH=str(tmp_path / "site"),
        PREFECT_API_URL="http://127.0.0.1:9/api",
        PREFECT_HOME=str(tmp_path / "home"),
    )
    if exit_with:
        env["EXIT_WITH"] = exit_with
    forked, plain = both([str(script), "a", "b"], env=env, cwd=work, input="piped in\n")
    same(forked, plain)
    assert forked.returncode == code
    assert '"api_url": "http://127.0.0.1:9/api"' in forked.stdout
    assert '"only_here": "yes"' in forked.stdout
    assert f'"path0": "{script.parent}"' in forked.stdout
    assert '"stdin": "piped in\\n"' in forked.stdout


def test_the_cli_answers_the_same_forked_or_not(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(tmp_path / "home"), COLUMNS="120", FLOWFLEET_NO_CACHE="1")
    # `validate` checks the example fleet's ECS and Kubernetes jobs against the stock
    # templates of the workers the zygote preloads.
    for args in (["--help"], ["no-such-command"], ["plugins"], ["validate"]):
        same(*both(["-m", "flowfleet", *args], env=env, cwd=Path(__file__).parents[1]))


def test_an_uncaught_exception_prints_its_traceback_and_exits_1(tmp_path: Path) -> None:
    script = tmp_path / "boom.py"
    script.write_text("raise ValueError('boom')\n")
    forked, plain = both([str(script)], cwd=tmp_path)
    assert forked.returncode == plain.returncode == 1
    assert forked.stderr.splitlines()[-1] == plain.stderr.splitlines()[-1] == "ValueError: boom"


def test_a_run_past_its_timeout_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "slow.py"
    script.write_text(
        textwrap.dedent(
            """\
            import os, time
            print(os.getpid(), flush=True)
            time.sleep(60)
            """
        )
    )
    with pytest.raises(subprocess.TimeoutExpired) as timed_out:
        cli_zygote.Zygote.get().run([str(script)], env=None, cwd=tmp_path, input=None, timeout=3)
    pid = int(timed_out.value.output.strip())
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists()
