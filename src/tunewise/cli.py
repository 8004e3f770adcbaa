"""The ``tunewise`` command. Thin: parse, call the capability's Python API, print.

Each capability adds its commands by shipping ``tunewise/<capability>/cli.py`` with a
``register(app)`` function; this module finds them, so adding a capability never means
editing a shared file.
"""

from __future__ import annotations

import importlib
import sys

import typer

from tunewise.errors import TunewiseError
from tunewise.progress import console

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="tunewise: should you fine-tune, and what did fine-tuning do to the model?")

CAPABILITIES = ("models", "data", "runs", "assess", "train", "audit", "persona", "gate", "report", "pipeline")


def _register_capabilities() -> None:
    for name in CAPABILITIES:
        module_name = f"tunewise.{name}.cli"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name in (module_name, f"tunewise.{name}"):  # capability has no commands (yet)
                continue
            raise
        module.register(app)


_register_capabilities()


def main() -> None:
    """Entry point: our own errors become one red line and exit code 2."""
    try:
        app()
    except TunewiseError as exc:
        console.print(f"[red]error:[/red] {_escape(str(exc))}")
        sys.exit(2)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


if __name__ == "__main__":
    main()
