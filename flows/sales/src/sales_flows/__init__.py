"""The sales team's flows. Decorate a flow with `@registry(...)` and it is deployed."""

from flowfleet import Registry

registry = Registry()
