"""The ``mlcycle`` command line."""

from mlcycle.cli.main import main

__all__ = ["main"]
