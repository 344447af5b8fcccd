"""Stock pool templates on disk, so a cold resolution need not import the worker
packages that make them.

Checking an ECS deployment's job variables needs prefect-aws's stock template, and
importing prefect-aws (boto3, botocore) cost a cold process 0.7 s and 25 MB at 10,000
deployments: each prewarm worker paid both (bench/findings.md). A stock template made
by installed code is a function of that code alone, so it is kept in one file per
install: the key is the interpreter with every installed distribution's RECORD, and
flowfleet's own files. Templates of infra types that live in the workspace are never
kept (infra/templates.py decides), since their code may change under the same key.

Read before resolving and written after, at the session's boundary: the resolution
itself only sees the templates already known (`templates.learn`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path

import flowfleet
from flowfleet import atomic_file, imports
from flowfleet.infra import templates


def store_file(cache_root: Path) -> Path:
    """This install's file under the cache folder (cache.py's root)."""
    key = hashlib.sha256(imports.installed_fingerprint().encode())
    key.update("\n".join(imports.walk(Path(flowfleet.__file__).parent)).encode())
    return cache_root / "templates" / f"{key.hexdigest()[:32]}.json"


def load(path: Path) -> int:
    """Make the stored templates known to this process; how many there were."""
    with contextlib.suppress(OSError, ValueError):
        stored = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(stored, dict):
            templates.learn(stored)
            return len(stored)
    return 0


def save(path: Path, known_before: int) -> None:
    """Store what this process learnt, when it learnt more than the file held."""
    learned = templates.learned()
    if len(learned) <= known_before:
        return
    with contextlib.suppress(OSError):  # a read-only checkout still resolves
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_file.write_text(path, json.dumps(learned, sort_keys=True))
