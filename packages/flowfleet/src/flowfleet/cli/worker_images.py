"""`flowfleet images workers` and `images build --pool`: the worker image of each process pool."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from flowfleet import images, worker_images
from flowfleet.cli import fail
from flowfleet.cli.images import TagsFormat, images_app
from flowfleet.session import Session


def pool_images(
    session: Session, env: str, image_tag: str | None = None
) -> dict[str, worker_images.WorkerImage]:
    """Every pool's worker image in `env`; refuses when a deployment did not resolve, since
    its package would be missing from the image."""
    environment = session.environment(env)
    resolution = session.resolve(environment)
    if resolution.problems:
        raise fail(*resolution.problems)
    tags = session.image_tags(environment)
    override = images.override_tag(image_tag)
    return worker_images.worker_images(resolution.deployments, environment, tags, override)


def worker_image(
    session: Session, pool: str, env: str | None, image_tag: str | None
) -> tuple[str, str]:
    """(the Dockerfile's PACKAGE value, the image reference) for `pool`'s worker image."""
    if env is None:
        raise fail("a worker image needs --env: which deployments target the pool depends on it")
    found = pool_images(session, env, image_tag)
    image = worker_images.pick(found, pool, session.environment(env))
    return " ".join(image.packages), image.reference


@images_app.command("workers")
def workers(
    env: str = typer.Option(..., "--env", "-e", help="Environment: its pools and registry."),
    output: TagsFormat = typer.Option(TagsFormat.table, "--output", "-o"),
    image_tag: str | None = typer.Option(
        None, "--image-tag", help="Use this tag instead of the content tag (also: IMAGE_TAG)."
    ),
) -> None:
    """Each process pool whose runs need a worker image: its packages and image reference."""
    found = pool_images(Session(), env, image_tag)
    rows = [
        {"pool": w.pool, "packages": list(w.packages), "image": w.reference, "tag": w.tag}
        for w in found.values()
    ]
    if output is TagsFormat.json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title=f"Worker images for {env}")
    for column in ("Pool", "Packages", "Image"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["pool"], ", ".join(row["packages"]), row["image"])
    Console(width=200).print(table)
