"""uv.lock: one package's locked dependency set, for its image tag."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from typing import Any

from flowfleet.problems import FlowfleetError
from flowfleet.workspace import normalise

LOCK_FILE = "uv.lock"

# A lock entry's artifact lists: most of uv.lock's text, not needed to walk the graph.
_ARTIFACTS = re.compile(r"^(?:sdist|wheels) = (?:\{[^\n]*\}|\[\n.*?^\])\n", re.M | re.S)
_PACKAGE_HEADER = re.compile(r"^\[\[package\]\]\n", re.M)


class Lock:
    """uv.lock's packages, to walk one package's locked dependencies.

    Each `[[package]]` block is kept as text (its identity in a tag: name, version,
    source, dependencies, hashes) and parsed without its artifact lists, which keeps
    this cheap enough to run on every `list`, `plan` and `deploy`.
    """

    def __init__(self, text: str) -> None:
        self.entries: dict[str, list[dict[str, Any]]] = {}
        self._reached: dict[tuple[int, tuple[str, ...]], frozenset[str]] = {}
        for block in _PACKAGE_HEADER.split(text)[1:]:
            try:
                entry = tomllib.loads("[[package]]\n" + _ARTIFACTS.sub("", block))["package"][0]
            except (tomllib.TOMLDecodeError, KeyError, IndexError) as exc:
                raise FlowfleetError(f"{LOCK_FILE}: malformed package entry: {exc}") from None
            entry["_text"] = block.strip()
            self.entries.setdefault(normalise(entry["name"]), []).append(entry)

    def _targets(self, dep: Mapping[str, Any]) -> list[dict[str, Any]]:
        candidates = self.entries.get(normalise(dep["name"]), [])
        if "version" in dep:
            candidates = [c for c in candidates if c.get("version") == dep["version"]]
        if "source" in dep:
            candidates = [c for c in candidates if c.get("source") == dep["source"]]
        return candidates

    def closure(self, package: str) -> list[str]:
        """The text of every lock entry `package` reaches through its (non-dev) dependencies
        and the extras they ask for, sorted."""
        reached: set[str] = set()
        for entry in self.entries.get(normalise(package), []):
            reached.add(entry["_text"])
            for target, extras in self._edges(entry, ()):
                reached |= self._reach(target, extras)
        return sorted(reached)

    def _edges(self, entry: dict[str, Any], extras: tuple[str, ...]):
        deps = list(entry.get("dependencies", []))
        for extra in extras:
            deps.extend(entry.get("optional-dependencies", {}).get(extra, []))
        for dep in deps:
            for target in self._targets(dep):
                yield target, tuple(sorted(dep.get("extra", [])))

    def _reach(self, start: dict[str, Any], extras: tuple[str, ...]) -> frozenset[str]:
        """Every entry reachable from one dependency, kept: 500 flow packages share the
        same few (flowfleet, prefect), whose walk is then done once, not 500 times."""
        key = (id(start), extras)
        if key not in self._reached:
            seen: set[tuple[int, tuple[str, ...]]] = set()
            reached: set[str] = set()
            todo = [(start, extras)]
            while todo:
                entry, wanted = todo.pop()
                if (id(entry), wanted) in seen:
                    continue
                seen.add((id(entry), wanted))
                reached.add(entry["_text"])
                todo.extend(self._edges(entry, wanted))
            self._reached[key] = frozenset(reached)
        return self._reached[key]
