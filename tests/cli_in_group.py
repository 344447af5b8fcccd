"""Run flowfleet's own CLI with plugins from one entry-point group: `cli_in_group.py GROUP ARGS`.

Tests use it so a throwaway project on disk deploys only its own packages, not the
workspace's installed ones. Everything else is the real `flowfleet.cli.main()`.
"""

import functools
import sys

from flowfleet import plugins, session

session.load_plugins = functools.partial(plugins.load_plugins, entry_point_group=sys.argv.pop(1))

from flowfleet.cli import main  # noqa: E402

main()
