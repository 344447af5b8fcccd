"""Problems: one clear line each, naming the package, the flow, the field and the fix.

Every stage collects problems instead of raising, so `flowfleet validate` can list
all of them at once and the CLI can print them without a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    message: str
    package: str | None = None
    flow: str | None = None
    field: str | None = None
    fix: str | None = None
    source: str | None = None

    def __str__(self) -> str:
        where = [p for p in (self.package, self.flow) if p]
        if self.field:
            where.append(f"field '{self.field}'")
        line = ": ".join([" ".join(where), self.message] if where else [self.message])
        if self.source and not where:  # a file's problem (an environment): `path:line: ...`
            line = f"{self.source}: {line}"
        elif self.source:
            line += f" [{self.source}]"
        if self.fix:
            line += f" (fix: {self.fix})"
        return one_line(line)

    @property
    def location(self) -> tuple[str | None, int | None]:
        """(file, line) from `source` ("path:line" or "path"), for CI annotations."""
        if not self.source:
            return None, None
        path, _, line = self.source.rpartition(":")
        if path and line.isdigit():
            return path, int(line)
        return self.source, None


def one_line(text: str) -> str:
    """Fold a multi-line text (an exception's message, say) into one line."""
    if "\n" not in text:
        return text
    return "; ".join(part.strip(" -") for part in text.splitlines() if part.strip(" -"))


class FlowfleetError(Exception):
    """An error the CLI prints as plain lines and turns into exit code 1."""

    def __init__(self, *problems: Problem | str):
        self.problems = [p if isinstance(p, Problem) else Problem(p) for p in problems]
        super().__init__("\n".join(str(p) for p in self.problems))
