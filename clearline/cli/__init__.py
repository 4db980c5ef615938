"""The `clearline` command line: a thin layer over the Python API."""

from __future__ import annotations

import os
import sqlite3
import sys

import click

from clearline.engine import ENGINE_VERSION, ClearlineError

from .audit_commands import audit
from .batch_command import batch_command
from .case_commands import case
from .change_commands import backtest_command, diff
from .decide_command import decide_command, sample
from .demo import demo
from .disclose_command import disclose, notice
from .init_command import init_command
from .policy_commands import check, test_command
from .schema_command import schema
from .selfcheck_command import selfcheck
from .serve_command import keys, serve
from .watch import watch


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(ENGINE_VERSION, prog_name="clearline")
def cli() -> None:
    """Clearline: decide, explain and disclose credit-line policies from one source."""


for command in (
    check,
    test_command,
    init_command,
    decide_command,
    sample,
    diff,
    backtest_command,
    batch_command,
    disclose,
    notice,
    demo,
    audit,
    case,
    watch,
    serve,
    keys,
    schema,
    selfcheck,
):
    cli.add_command(command)


def main() -> None:
    """Entry point: no Python traceback reaches the user for any input."""
    try:
        cli.main(standalone_mode=True)
    except ClearlineError as exc:
        click.echo(f"clearline: error: {exc}", err=True)
        sys.exit(1)
    except sqlite3.Error as exc:  # a locked, corrupt or foreign database file: input, not a bug
        click.echo(f"clearline: error[A100]: database: {exc}", err=True)
        sys.exit(1)
    except OSError as exc:
        click.echo(f"clearline: error[E009]: {exc.strerror or exc}: {exc.filename or ''}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("clearline: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # a bug of ours: say so in one line instead of a traceback
        if os.environ.get("CLEARLINE_DEBUG"):
            raise
        click.echo(
            f"clearline: internal error: {type(exc).__name__}: {exc} "
            "(set CLEARLINE_DEBUG=1 for a traceback, and please report it)",
            err=True,
        )
        sys.exit(3)
