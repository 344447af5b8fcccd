"""`flowfleet images`: content-addressed tags, per-package builds, and what changed since a ref."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from flowfleet import images
from flowfleet.cli import app, fail
from flowfleet.json_output import print_json
from flowfleet.session import Session

images_app = typer.Typer(
    help="Per-package images: content-addressed tags, builds, and what changed.",
    no_args_is_help=True,
)
app.add_typer(images_app, name="images")


class Engine(StrEnum):
    docker = "docker"
    podman = "podman"
    buildah = "buildah"


class TagsFormat(StrEnum):
    table = "table"
    json = "json"


def build_command(
    engine: Engine,
    root: Path,
    package: str,
    reference: str,
    *,
    base_image: str | None = None,
    no_install: str | None = None,
    extra: list[str] | None = None,
) -> list[str]:
    """The engine's build command, from the workspace root as context; `package` may list
    several distributions, space-separated (a worker image)."""
    command = [engine.value, "build", "-f", str(root / images.DOCKERFILE)]
    command += ["--build-arg", f"PACKAGE={package}"]
    if base_image:
        command += ["--build-arg", f"BASE_IMAGE={base_image}"]
    if no_install:
        command += ["--build-arg", f"NO_INSTALL={no_install}"]
    return [*command, "-t", reference, *(extra or []), str(root)]


@images_app.command("tags")
def tags(
    env: str = typer.Option(..., "--env", "-e", help="Environment: its image registry."),
    output: TagsFormat = typer.Option(TagsFormat.table, "--output", "-o"),
    image_tag: str | None = typer.Option(
        None, "--image-tag", help="Use this tag for every package (also: IMAGE_TAG)."
    ),
) -> None:
    """Each flow package, its content-addressed tag and its image reference."""
    session = Session()
    environment = session.environment(env)
    found = images.compute(session.workspace.tree)
    override = images.override_tag(image_tag)
    rows = [
        {
            "package": name,
            "team": inputs.package.team,
            "path": inputs.package.path,
            "image": inputs.reference(environment, override),
            "tag": override or inputs.tag,
            "content_tag": inputs.tag,
            "members": list(inputs.members),
        }
        for name, inputs in found.items()
    ]
    if output is TagsFormat.json:
        print_json(rows)
        return
    table = Table(title=f"Images for {env}")
    for column in ("Package", "Team", "Tag", "Image", "Workspace packages"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["package"], row["team"], row["tag"], row["image"], ", ".join(row["members"])
        )
    Console(width=200).print(table)


@images_app.command(
    "build", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def build(
    ctx: typer.Context,
    package: str | None = typer.Argument(
        None, help="Team (`sales`) or distribution (`sales-flows`); or give --pool."
    ),
    pool: str | None = typer.Option(
        None,
        "--pool",
        help="Build the worker image of this process pool instead: every package whose "
        "deployments target it in --env.",
    ),
    runtime: bool = typer.Option(
        False,
        "--runtime",
        help="Build --env's shared runtime image (its base_image) for git storage instead: "
        "the git-storage packages' dependencies and flowfleet, not their code.",
    ),
    env: str | None = typer.Option(
        None, "--env", "-e", help="Environment whose image registry names the image."
    ),
    engine: Engine = typer.Option(Engine.docker, "--engine", help="The container engine."),
    push: bool = typer.Option(False, "--push", help="Push the image after building it."),
    image_tag: str | None = typer.Option(
        None, "--image-tag", help="Tag instead of the content-addressed one (also: IMAGE_TAG)."
    ),
    base_image: str | None = typer.Option(
        None, "--base-image", help="BASE_IMAGE build argument (default: the Dockerfile's)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the commands, run nothing."),
) -> None:
    """Build one package's image (or a pool's worker image) from infra/docker/Dockerfile;
    arguments after `--` go to the engine (e.g. `-- --volume /etc/ssl:/etc/ssl:ro`)."""
    session = Session()
    root = session.workspace.root
    environment = session.environment(env) if env else None
    no_install, extra = None, list(ctx.args)
    if (pool is not None or runtime) and package is not None and package.startswith("-"):
        # No package name starts with "-": click gave the first engine argument after `--`
        # to the optional PACKAGE.
        package, extra = None, [package, *extra]
    if [package is not None, pool is not None, runtime].count(True) != 1:
        raise fail("give one of: a package (e.g. `sales`), --pool POOL, --runtime")
    if pool is not None or runtime:
        from flowfleet.cli.worker_images import runtime_image, worker_image

        if runtime:
            built, reference = runtime_image(session, env)
            no_install = built
        else:
            built, reference = worker_image(session, pool, env, image_tag)
    else:
        inputs = images.find(images.compute(session.workspace.tree), package)
        built = inputs.package.name
        reference = inputs.reference(environment, images.override_tag(image_tag))
    commands = [
        build_command(
            engine,
            root,
            built,
            reference,
            base_image=base_image,
            no_install=no_install,
            extra=extra,
        )
    ]
    if push:
        commands.append([engine.value, "push", reference])
    for command in commands:
        print(f"$ {shlex.join(command)}", file=sys.stderr, flush=True)
        if dry_run:
            continue
        try:
            code = subprocess.run(command).returncode
        except FileNotFoundError:
            raise fail(f"{engine.value} not found: install it or pick --engine") from None
        if code != 0:
            raise fail(f"{command[0]} {command[1]} failed with exit code {code}")
    print(reference)


@images_app.command("changed")
def changed(
    base: str | None = typer.Option(
        None, "--base", help="Git ref to compare with; without it every package counts."
    ),
    env: str | None = typer.Option(
        None, "--env", "-e", help="Environment whose image registry prefixes `image`."
    ),
) -> None:
    """Print a GitHub Actions matrix of the flow packages whose image tag changed since BASE."""
    session = Session()
    environment = session.environment(env) if env else None
    print(json.dumps(images.changed(session.workspace, base, environment)))
