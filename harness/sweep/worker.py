"""``python -m harness.sweep.worker CELL_FILE``: one cell in its own process (the local launcher's
worker). Exit status 0 when the cell is done, 1 when it failed (its one-line error is the last
line of stderr, after ``error:``)."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from pathlib import Path

#: Set by the local launcher: the sweep's pid, so that a worker dies with its sweep.
PARENT_ENV = "HARNESS_SWEEP_PARENT"


def die_with_parent() -> None:
    """On Linux, ask the kernel to SIGKILL this process when the sweep that started it dies (also
    by ``kill -9``), so no orphan keeps writing into a run directory the resumed sweep runs."""
    parent = os.environ.get(PARENT_ENV)
    if not parent or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != int(parent):  # the sweep died before prctl
        os._exit(1)


def main(argv: list[str]) -> int:
    die_with_parent()
    from harness.progress import console, setup_logging
    from harness.sweep.cell import run_cell

    setup_logging()
    outcome = run_cell(Path(argv[0]))
    if outcome["state"] != "done":
        console.print(f"error: {outcome['error']}", markup=False, highlight=False, soft_wrap=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
