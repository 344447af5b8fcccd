"""`flowfleet import` run as a user runs it, without a server: bad input, flows it cannot find."""

from __future__ import annotations

import pytest

from import_workspace import ImportWorkspace

pytestmark = pytest.mark.cli  # every test runs `flowfleet import` in a subprocess

FLOWS = """\
from prefect import flow


@flow
def good(days: int = 1):
    pass


def _dynamic():
    pass


dynamic = flow(_dynamic)
"""


@pytest.fixture
def ws(tmp_path):
    box = ImportWorkspace(tmp_path / "ws", "http://127.0.0.1:9/api")
    box.write("flows/acme/src/acme_flows/jobs.py", FLOWS)
    box.write("elsewhere/script.py", "from prefect import flow\n\n@flow\ndef stray():\n    pass\n")
    return box


def errors(stderr: str) -> list[str]:
    lines = stderr.strip().splitlines()
    assert "Traceback" not in stderr
    return [line for line in lines if line.startswith("error: ")]


def yaml(*deployments: str) -> str:
    return "deployments:\n" + "".join(deployments)


@pytest.mark.parametrize(
    ("content", "args", "expected"),
    [
        (None, ["--from", "missing.yaml"], "missing.yaml: no such file"),
        ("deployments:\n  - name: [unclosed\n", ["--from", "p.yaml"], "p.yaml:3: invalid YAML"),
        (
            yaml("- {name: gone, entrypoint: flows/acme/src/acme_flows/nope.py:good}\n"),
            ["--from", "p.yaml"],
            "gone: not imported (p.yaml deployments[0]): entrypoint "
            "'flows/acme/src/acme_flows/nope.py:good': no such file in the workspace",
        ),
        (
            yaml("- {name: a, entrypoint: flows/acme/src/acme_flows/jobs.py:good}\n"),
            ["--from", "p.yaml", "--team", "billing"],
            "unknown team 'billing' (known: acme-flows)",
        ),
        (None, [], "give --from FILE or --from-server, one of them"),
        (None, ["--from-server"], "--from-server needs --env ENV"),
        (
            None,
            ["--from-server", "--env", "prod"],
            "cannot reach the Prefect API at http://127.0.0.1:9/api",
        ),
    ],
    ids=[
        "missing file",
        "invalid yaml",
        "missing entrypoint",
        "unknown team",
        "no source",
        "no env",
        "no server",
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(ws, content, args, expected):
    if content is not None:
        ws.write("p.yaml", content)
    before = ws.sources()
    done = ws.run("import", *args, "--write")
    assert done.returncode == 1
    [line] = errors(done.stderr)
    assert line.startswith(f"error: {expected}")
    assert ws.sources() == before


def test_flows_it_cannot_find_are_reported_and_the_rest_imports(ws):
    ws.write(
        "p.yaml",
        yaml(
            "- {name: ok, entrypoint: flows/acme/src/acme_flows/jobs.py:good}\n",
            "- {name: dyn, entrypoint: flows/acme/src/acme_flows/jobs.py:dynamic}\n",
            "- {name: lost, entrypoint: flows/acme/src/acme_flows/jobs.py:missing}\n",
            "- {name: out, entrypoint: elsewhere/script.py:stray}\n",
            "- {name: mod, entrypoint: 'acme_flows.jobs:good'}\n",
        ),
    )
    done = ws.run("import", "--from", "p.yaml", "--write")
    assert done.returncode == 1
    lines = errors(done.stderr)
    assert len(lines) == 3
    assert lines[0].startswith("error: dyn: not imported (p.yaml deployments[1]): ")
    assert "'dynamic' is defined dynamically" in lines[0]
    assert lines[1].startswith("error: lost: ") and "no module-level function 'missing'" in lines[1]
    assert lines[2].startswith("error: out: ")
    assert "elsewhere/script.py is outside the workspace's team packages" in lines[2]
    assert "imported: 2 deployments into 1 files" in done.stderr
    jobs = (ws.package / "jobs.py").read_text()
    decorated = '@registry(DeploymentConfig(name="ok"))\n@registry(DeploymentConfig(name="mod"))\n'
    assert decorated + "@flow\ndef good" in jobs
    assert "from acme_flows import registry\nfrom flowfleet import DeploymentConfig\n" in jobs


def test_team_entrypoints_relative_to_the_team_folder(ws):
    ws.write(
        "old-repo/prefect.yaml", yaml("- {name: ok, entrypoint: src/acme_flows/jobs.py:good}\n")
    )
    done = ws.run("import", "--from", "old-repo/prefect.yaml", "--team", "acme")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("--- a/flows/acme/src/acme_flows/jobs.py\n")
    assert '+@registry(DeploymentConfig(name="ok"))\n' in done.stdout
    assert (
        "would import (dry run; --write changes the files): 1 deployments into 1 files"
        in done.stderr
    )
