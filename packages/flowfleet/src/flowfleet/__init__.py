"""flowfleet: deploy a uv workspace of Prefect 3 flow packages with one command."""

from flowfleet.config import DeploymentConfig
from flowfleet.hookspecs import hookimpl
from flowfleet.infra.base import InfraConfig
from flowfleet.infra.ecs import EcsTask
from flowfleet.infra.worker import Worker
from flowfleet.registry import Registry
from flowfleet.schedules import Cron, Interval, RRule
from flowfleet.triggers import after

__version__ = "0.1.0"

__all__ = [
    "Cron",
    "DeploymentConfig",
    "EcsTask",
    "InfraConfig",
    "Interval",
    "RRule",
    "Registry",
    "Worker",
    "after",
    "hookimpl",
]
