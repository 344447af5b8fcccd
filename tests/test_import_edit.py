"""Inserting decorators and imports with libcst: pure, table-driven, byte for byte."""

from __future__ import annotations

import textwrap
from datetime import datetime, timedelta

import pytest

from flowfleet.importer.edit import NewDecorator, add_decorators
from flowfleet.importer.flow_function import inspect_function
from flowfleet.importer.locate import NotFound
from flowfleet.importer.pysource import Call

REGISTRY = ("acme_flows", "registry")


def config(*arguments) -> Call:
    return Call("DeploymentConfig", "flowfleet", tuple(arguments))


NIGHTLY = NewDecorator("nightly", config(("name", "nightly"), ("cron", "0 6 * * *")))


def src(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


CASES = [
    (
        "imports join their sections; a comment above the function stays on top",
        """
        \"\"\"Loads.\"\"\"

        import json

        from prefect import flow


        # Loads orders.
        @flow(name="load")  # keep me
        def load(days: int = 1):
            return json.dumps(days)
        """,
        [NIGHTLY],
        """
        \"\"\"Loads.\"\"\"

        import json

        from prefect import flow

        from acme_flows import registry
        from flowfleet import DeploymentConfig


        # Loads orders.
        @registry(DeploymentConfig(name="nightly", cron="0 6 * * *"))
        @flow(name="load")  # keep me
        def load(days: int = 1):
            return json.dumps(days)
        """,
    ),
    (
        "an existing flowfleet import gains names; decorators go right above @flow",
        """
        from datetime import timedelta

        import prefect

        from flowfleet import Worker


        @some.other
        @prefect.flow
        def load():
            pass
        """,
        [
            NIGHTLY,
            NewDecorator(
                "h",
                config(
                    ("name", "h"),
                    ("interval", __import__("datetime").timedelta(hours=1)),
                    ("infra", Call("EcsTask", "flowfleet", (("cpu", 512),))),
                ),
                ("parameters.x: left out",),
            ),
        ],
        """
        from datetime import timedelta

        import prefect

        from acme_flows import registry
        from flowfleet import DeploymentConfig, EcsTask, Worker


        @some.other
        @registry(DeploymentConfig(name="nightly", cron="0 6 * * *"))
        # flowfleet import: parameters.x: left out
        @registry(DeploymentConfig(name="h", interval=timedelta(hours=1), infra=EcsTask(cpu=512)))
        @prefect.flow
        def load():
            pass
        """,
    ),
    (
        "a long config goes one argument a line; a new stdlib import goes first",
        """
        from prefect import flow


        @flow
        def load():
            pass
        """,
        [
            NewDecorator(
                "nightly",
                config(
                    ("name", "nightly"),
                    ("interval", __import__("datetime").timedelta(minutes=15)),
                    ("parameters", {"source": "orders", "days": 30, "full_refresh": True}),
                ),
            )
        ],
        """
        from datetime import timedelta

        from prefect import flow

        from acme_flows import registry
        from flowfleet import DeploymentConfig


        @registry(
            DeploymentConfig(
                name="nightly",
                interval=timedelta(minutes=15),
                parameters={"source": "orders", "days": 30, "full_refresh": True},
            )
        )
        @flow
        def load():
            pass
        """,
    ),
    (
        "typed schedules import their names and datetime beside timedelta",
        """
        from datetime import timedelta

        from prefect import flow

        from flowfleet import DeploymentConfig


        @flow
        def load():
            return timedelta(days=1)
        """,
        [
            NewDecorator(
                "nightly",
                config(
                    ("name", "nightly"),
                    (
                        "schedules",
                        [
                            Call("Cron", "flowfleet", (("slug", "weekdays"),), ("0 9 * * 1-5",)),
                            Call(
                                "Interval",
                                "flowfleet",
                                (
                                    ("timezone", "Europe/Paris"),
                                    ("anchor_date", datetime(2026, 1, 5, 3, 30)),
                                    ("parameters", {"region": "apac"}),
                                ),
                                (timedelta(hours=6),),
                            ),
                            Call("RRule", "flowfleet", (("active", False),), ("FREQ=DAILY",)),
                        ],
                    ),
                ),
            )
        ],
        """
        from datetime import datetime, timedelta

        from prefect import flow

        from acme_flows import registry
        from flowfleet import Cron, DeploymentConfig, Interval, RRule


        @registry(
            DeploymentConfig(
                name="nightly",
                schedules=[
                    Cron("0 9 * * 1-5", slug="weekdays"),
                    Interval(
                        timedelta(hours=6),
                        timezone="Europe/Paris",
                        anchor_date=datetime(2026, 1, 5, 3, 30),
                        parameters={"region": "apac"},
                    ),
                    RRule("FREQ=DAILY", active=False),
                ],
            )
        )
        @flow
        def load():
            return timedelta(days=1)
        """,
    ),
    (
        "the registry's own module imports nothing for it",
        """
        from flowfleet import Registry
        from prefect import flow

        registry = Registry()


        @flow
        def load():
            pass
        """,
        [NIGHTLY],
        """
        from flowfleet import DeploymentConfig, Registry
        from prefect import flow

        registry = Registry()


        @registry(DeploymentConfig(name="nightly", cron="0 6 * * *"))
        @flow
        def load():
            pass
        """,
    ),
]


@pytest.mark.parametrize(
    ("before", "decorators", "after"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_insert(before, decorators, after):
    edit = add_decorators(src(before), "m.py", "load", REGISTRY, decorators)
    assert edit.source == src(after)
    assert edit.added == [d.deployment for d in decorators]


def test_an_identical_decorator_is_not_added_twice_whatever_its_layout():
    before = src(
        """
        from prefect import flow

        from acme_flows import registry
        from flowfleet import DeploymentConfig


        @registry(
            DeploymentConfig(
                cron='0 6 * * *',
                name='nightly',
            )
        )
        @flow
        def load():
            pass
        """
    )
    edit = add_decorators(before, "m.py", "load", REGISTRY, [NIGHTLY])
    assert edit.source == before
    assert (edit.added, edit.unchanged, edit.conflicts) == ([], ["nightly"], [])


def test_a_same_named_decorator_with_other_settings_is_a_conflict_left_alone():
    before = src(
        """
        from prefect import flow

        from acme_flows import registry
        from flowfleet import DeploymentConfig


        @registry(DeploymentConfig(name="nightly", cron="0 7 * * *"))
        @flow
        def load():
            pass
        """
    )
    edit = add_decorators(before, "m.py", "load", REGISTRY, [NIGHTLY])
    assert edit.source == before
    assert edit.conflicts == ["nightly"]


NOT_FOUND = [
    ("missing function", "from prefect import flow\n", "no module-level function 'load'"),
    (
        "defined dynamically",
        "from prefect import flow\n\ndef _load():\n    pass\n\nload = flow(_load)\n",
        "defined dynamically",
    ),
    ("no @flow", "def load():\n    pass\n", "has no @flow decorator"),
    (
        "registry bound to something else",
        "from prefect import flow\nfrom deploy import registry\n\n@flow\ndef load():\n    pass\n",
        "'registry' is imported from deploy",
    ),
]


@pytest.mark.parametrize(
    ("source", "reason"), [c[1:] for c in NOT_FOUND], ids=[c[0] for c in NOT_FOUND]
)
def test_a_flow_that_cannot_take_a_decorator_says_why(source, reason):
    with pytest.raises(NotFound, match=reason):
        add_decorators(source, "m.py", "load", REGISTRY, [NIGHTLY])


@pytest.mark.parametrize(
    ("decorator", "flow_name"),
    [
        ("@flow", "load-orders"),
        ("@flow()", "load-orders"),
        ('@flow(name="etl", retries=2)', "etl"),
        ("@prefect.flow(name=NAME)", None),
    ],
)
def test_inspect_function_reads_the_flow_name_and_docstring(decorator, flow_name):
    source = f'{decorator}\ndef load_orders():\n    """Load.\n\n    More."""\n'
    found = inspect_function(source, "load_orders", "m.py")
    assert (found.flow_name, found.docstring) == (flow_name, "Load.\n\nMore.")
