"""Console output: one rich console on stderr, concise logging, and progress bars with ETA."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from collections.abc import Iterator

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)

console = Console(stderr=True)


def setup_logging(verbose: bool = False) -> None:
    """Concise log lines on stderr (time, level only for warnings and worse)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, RichHandler):
            root.removeHandler(handler)
    handler = RichHandler(console=console, show_path=False, show_level=True, markup=False,
                          rich_tracebacks=False, log_time_format="%H:%M:%S")
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("PIL", "matplotlib", "filelock", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class Bar:
    """A thin wrapper so callers never check whether progress display is enabled."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress

    def add(self, description: str, total: int | None, completed: int = 0) -> int | None:
        if self.progress is None:
            return None
        return self.progress.add_task(description, total=total, completed=completed, info="")

    def update(self, task: int | None, advance: int = 1, info: str | None = None,
               total: int | None = None) -> None:
        if self.progress is None or task is None:
            return
        kwargs = {"advance": advance}
        if info is not None:
            kwargs["info"] = info
        if total is not None:
            kwargs["total"] = total
        self.progress.update(task, **kwargs)

    def remove(self, task: int | None) -> None:
        if self.progress is not None and task is not None:
            self.progress.remove_task(task)


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[Bar]:
    """A rich progress display (description, bar, n/total, elapsed, ETA, info) or a no-op."""
    if not enabled or not console.is_terminal:
        yield Bar(None)
        return
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                        TextColumn("{task.fields[info]}"), console=console, transient=True)
    with progress:
        yield Bar(progress)
