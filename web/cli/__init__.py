"""The ``commandpost`` command (click): serve, migrate, manage users, import map data, load plans, run the sweeps.

One module per command group; each command imports what it needs when it runs, so ``--help`` and the process
that hosts the single-worker server load no more than click. The exit statuses are in ``EXIT_STATUSES``."""

from __future__ import annotations

from typing import Any

import click

from web.cli.common import Refused, Unreachable
from web.cli.db import db_group
from web.cli.demo import demo_command
from web.cli.layers import import_layer_command, import_osm_command
from web.cli.plans import plans_group
from web.cli.roads import roads_group
from web.cli.scheduler import scheduler_command
from web.cli.serve import serve_command, server_options
from web.cli.users import users_group

__all__ = ["main", "server_options"]

EXIT_STATUSES = """Exit status: 0 done, 1 the work failed, 2 a usage error, a configuration that is not valid or
input the service refuses, 3 PostgreSQL or Redis did not answer.

Configuration: COMMANDPOST_* environment variables, also read from .env at the project root."""


class _Commandpost(click.Group):
    """The top group: the service's own errors become exit statuses with a one-line message, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        from core.errors import CommandpostError

        try:
            return super().invoke(ctx)
        except CommandpostError as exc:
            raise Refused(exc.detail) from None
        except BrokenPipeError:
            raise  # click's own: stdout closed by `| head`
        except OSError as exc:  # ConnectionRefusedError and the other socket errors of the drivers
            raise Unreachable(f"cannot reach a service: {exc}") from None


# -h as argparse had it; the context settings pass down to every subcommand.
@click.group(
    "commandpost", cls=_Commandpost, epilog=EXIT_STATUSES, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(package_name="commandpost", prog_name="commandpost")
def main() -> None:
    """Emergency command and dispatch service."""


for _command in (
    serve_command,
    demo_command,
    db_group,
    users_group,
    import_osm_command,
    import_layer_command,
    roads_group,
    plans_group,
    scheduler_command,
):
    main.add_command(_command)
