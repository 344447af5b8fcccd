"""`flowfleet images workers` and `images build --pool`: the worker image of each process pool."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from flowfleet import images, worker_images
from flowfleet.cli import fail
from flowfleet.cli.images import TagsFormat, images_app
from flowfleet.desired import DesiredDeployment
from flowfleet.json_output import print_json
from flowfleet.session import Session


def resolved(session: Session, env: str) -> list[DesiredDeployment]:
    """`env`'s deployments; refuses when one did not resolve, since its package would be
    missing from the image."""
    resolution = session.resolve(session.environment(env))
    if resolution.problems:
        raise fail(*resolution.problems)
    return resolution.deployments


def pool_images(
    session: Session, env: str, image_tag: str | None = None
) -> dict[str, worker_images.WorkerImage]:
    """Every pool's worker image in `env`."""
    environment = session.environment(env)
    deployments = resolved(session, env)
    tags = session.image_tags(environment)
    override = images.override_tag(image_tag)
    return worker_images.worker_images(deployments, environment, tags, override)


def worker_image(
    session: Session, pool: str, env: str | None, image_tag: str | None
) -> tuple[str, str]:
    """(the Dockerfile's PACKAGE value, the image reference) for `pool`'s worker image."""
    if env is None:
        raise fail("a worker image needs --env: which deployments target the pool depends on it")
    found = pool_images(session, env, image_tag)
    image = worker_images.pick(found, pool, session.environment(env))
    return " ".join(image.packages), image.reference


def runtime_image(session: Session, env: str | None) -> tuple[str, str]:
    """(the git-storage packages, the environment's base_image) for the shared runtime image."""
    if env is None:
        raise fail("the runtime image needs --env: its base_image and git-storage packages")
    environment = session.environment(env)
    packages = worker_images.runtime_packages(resolved(session, env))
    if not packages:
        raise fail(f"no deployment in '{env}' uses git storage: it needs no runtime image")
    if not environment.base_image:
        raise fail(
            f"'{env}' sets no base_image: set base_image = \"<registry>/<runtime>:<tag>\" "
            f"in infra/environments/{env}.toml, the image git-storage runs use"
        )
    return " ".join(packages), environment.base_image


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
        print_json(rows)
        return
    table = Table(title=f"Worker images for {env}")
    for column in ("Pool", "Packages", "Image"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["pool"], ", ".join(row["packages"]), row["image"])
    Console(width=200).print(table)
