"""What ``mlcycle run``/``monitor``/``demo`` show while they work: one line per task and per window.

Airflow's own output (task logs, the scheduler loop of ``dag.test``) goes to a log file whose path
is printed; ``--verbose`` streams it instead. The redirect is at the file-descriptor level, so
whatever writes to stdout or stderr (Airflow's handlers, warnings, a library's progress bar) lands
in the file and the terminal shows only the display and the summary.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape

from mlcycle.core.summaries import WindowSummary

MARKS = {"success": ("ok", "green"), "failed": ("FAILED", "red"), "skipped": ("skipped", "yellow")}


def log_path(home: Path, command: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return home / "logs" / f"{command}-{stamp}-{os.getpid()}.log"


class Display:
    """The progress lines, on the terminal the command started with."""

    def __init__(self, out: TextIO) -> None:
        self.console = Console(file=out, highlight=False, soft_wrap=True)

    def say(self, text: str) -> None:
        self.console.print(text)

    def task(self, event: Any) -> None:  # an airflow.watch.TaskEvent
        if event.state == "running":
            return
        label, style = MARKS.get(event.state, (event.state, "default"))
        line = f"  [{style}]{escape(label):<8}[/] {escape(event.task_id):<22} {event.seconds:6.1f}s"
        if event.error:
            line += f"  {escape(event.error.splitlines()[0][:160])}"
        self.console.print(line)

    def window(self, w: WindowSummary) -> None:
        cells = w.row()
        self.console.print(
            f"[bold]window {escape(cells[0])}[/]: {escape(cells[7])}; {escape(cells[8])}  ({w.seconds:.1f}s)"
        )


@contextmanager
def airflow_output(path: Path, verbose: bool) -> Iterator[Display]:
    """Send everything written to stdout/stderr to ``path`` (unless ``verbose``); yield the display."""
    sys.stdout.flush()
    sys.stderr.flush()
    if verbose:
        yield Display(sys.stdout)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    saved_out, saved_err = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(saved_out), "w", buffering=1)
    with path.open("ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield Display(terminal)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved_out, 1)
            os.dup2(saved_err, 2)
            os.close(saved_out)
            os.close(saved_err)
            terminal.close()
