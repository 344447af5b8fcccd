"""Which part of a refused cron expression is wrong, for a hint that points at the fix.

Prefect's own model (croniter) decides whether a cron is valid; it says only "invalid".
`diagnose` reads a cron that was refused field by field and names the first field
that is out of range or unreadable (`0 25 * * *`: hour 25 is out of range 0-23).
"""

from __future__ import annotations

from dataclasses import dataclass

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
EXAMPLE = "e.g. '0 9 * * *' for 09:00 daily"


@dataclass(frozen=True)
class Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # three-letter names, numbered from `first`
    first: int = 0
    specials: tuple[str, ...] = ()  # croniter's own letters: L (last), ? (any)

    def value(self, text: str) -> int | None:
        if text.isdigit():
            return int(text)
        lowered = text.lower()
        if lowered in self.names:
            return self.names.index(lowered) + self.first
        return None

    def choices(self) -> str:
        named = f" or {self.names[0]}-{self.names[-1]}" if self.names else ""
        return f"{self.low}-{self.high}{named}"


FIELDS = (
    Field("minute", 0, 59),
    Field("hour", 0, 23),
    Field("day of month", 1, 31, specials=("l", "?")),
    Field("month", 1, 12, MONTHS, first=1),
    Field("day of week", 0, 7, DAYS, specials=("l", "?")),
)


def diagnose(cron: str) -> tuple[str, str]:
    """(what is wrong, the fix) for a cron expression Prefect refused."""
    parts = cron.split()
    if len(parts) != len(FIELDS):
        return (
            f"it has {len(parts)} field{'s' if len(parts) != 1 else ''}, cron takes five",
            f"write minute hour day-of-month month day-of-week, {EXAMPLE}",
        )
    for field, part in zip(FIELDS, parts, strict=True):
        for item in part.split(","):
            found = _item(field, item)
            if found:
                return found
    return "croniter cannot read it", f"check each field against `man 5 crontab`, {EXAMPLE}"


def _item(field: Field, item: str) -> tuple[str, str] | None:
    article = "an" if field.name[0] in "aeiouh" else "a"
    fix = f"use {article} {field.name} in {field.choices()}"
    base, slash, step = item.partition("/")
    if slash and (not step.isdigit() or int(step) == 0):
        return f"{field.name} step '{step}' is not a positive number", f"write e.g. '*/5'; {fix}"
    if base in ("*", "?") or base.lower() in field.specials:
        return None
    for text in base.split("-", 1):
        text = text.split("#", 1)[0]  # `1#2`: the second Monday
        core = text.lower().rstrip("lw") if field.specials else text  # `L`, `5L`, `15W`
        if field.specials and text and not core:
            continue
        number = field.value(core) if core else None
        if number is None:
            return f"{field.name} '{text}' is not a number", fix
        if not field.low <= number <= field.high:
            return f"{field.name} {number} is out of range {field.low}-{field.high}", fix
    return None
