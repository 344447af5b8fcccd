"""Audience scoring needs more memory than the ECS tasks give, so in prod it runs on Kubernetes.

The infra is a plain dict, not a `KubernetesJob` instance: flowfleet validates it
when it resolves the environment, against whatever infra types are installed.
This module imports nothing from the plugin, so it still loads where
flowfleet-kubernetes is missing, and `flowfleet validate` names the missing type.
"""

from __future__ import annotations

from prefect import flow, task

from flowfleet import DeploymentConfig
from marketing_flows import registry


@task
def score(segment: str, model: str) -> dict:
    return {"segment": segment, "model": model, "score": len(segment) / 10}


@registry(
    DeploymentConfig(
        cron="0 3 * * *",
        environments=["prod"],
        infra={
            "type": "kubernetes",
            "namespace": "marketing",
            "service_account_name": "marketing-flows",
            "cpu_request": "500m",
            "cpu_limit": "2",
            "memory_request": "1Gi",
            "memory_limit": "4Gi",
            "image_pull_policy": "Always",
        },
        parameters={"segments": ["new", "returning", "lapsed"]},
        tags=["marketing", "kubernetes"],
    )
)
@flow(name="marketing-audience-scoring")
def audience_scoring(segments: list[str], model: str = "gbm-v3") -> list[dict]:
    """Score each audience segment overnight."""
    return [score(segment, model) for segment in segments]
