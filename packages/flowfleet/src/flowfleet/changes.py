"""Rows of a plan other than a deployment's: a field's move, and a work pool's change."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class FieldChange(BaseModel):
    """One field's move: what the server holds (`from`) and what the code wants (`to`)."""

    model_config = ConfigDict(populate_by_name=True)

    from_: Any = Field(default=None, alias="from")
    to: Any = None

    def pair(self) -> dict[str, Any]:
        return {"from": self.from_, "to": self.to}


PoolAction = Literal["create", "update", "unchanged", "conflict"]


class PoolChange(BaseModel):
    """A declared work pool's row of the plan: created, updated (the differing keys),
    unchanged, or a conflict (a pool flowfleet does not own, left alone)."""

    name: str
    action: PoolAction
    type: str
    changes: dict[str, FieldChange] = Field(default_factory=dict)
    reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "type": self.type}
        if self.action == "update":
            data["changes"] = {k: c.pair() for k, c in self.changes.items()}
        if self.reason:
            data["reason"] = self.reason
        return data
