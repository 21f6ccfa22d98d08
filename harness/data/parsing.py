"""Reading the label and split files of the public datasets, with one-line errors.

Every error names the file and, where there is one, the 1-based line: ``/data/AVA/AVA.txt:1234:
expected 15 integers, got 14``. Text files may have LF or CRLF line endings (TID2013 ships CRLF)
and a UTF-8 byte-order mark; blank lines are ignored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from harness.data.records import LabelSpec
from harness.errors import DataError


def require_file(path: Path, what: str) -> Path:
    """``path`` if it is a file, else a one-line :class:`DataError` naming the expected path."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what} not found: expected {path}")
    return path


def require_dir(path: Path, what: str) -> Path:
    """``path`` if it is a folder, else a one-line :class:`DataError` naming the expected path."""
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"{what} not found: expected the folder {path}")
    return path


def read_lines(path: Path, what: str) -> list[tuple[int, str]]:
    """The non-blank lines of a text file as (1-based line number, stripped text).

    Args:
        path: the file.
        what: how to name it in the error when it is missing (``"AVA label file"``).
    """
    require_file(path, what)
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not a UTF-8 text file ({error.reason} at byte "
                        f"{error.start})") from None
    return [(k, line.strip()) for k, line in enumerate(text.splitlines(), start=1) if line.strip()]


def parse_int_table(path: Path, n_cols: int, what: str) -> np.ndarray:
    """(N, n_cols) int64 table of a whitespace-separated integer file without a header.

    The fast path is pandas' C parser (a 255,530-row ``AVA.txt`` in about 0.3 s); when it
    rejects the file, a line-by-line pass finds the first bad line for the error message.

    Raises:
        DataError: ``<path>:<line>: expected 15 integers, got 14`` (or ``found 'x'``), or the
            file is missing or empty.
    """
    require_file(path, what)
    try:
        table = pd.read_csv(path, sep=r"\s+", header=None, dtype=np.int64, engine="c",
                            encoding="utf-8-sig")
        values = table.to_numpy()
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty; expected rows of {n_cols} integers") from None
    except (ValueError, OverflowError, pd.errors.ParserError):
        values = None
    if values is None or values.shape[1] != n_cols:
        _raise_first_bad_row(path, n_cols, what)
    return values


def _raise_first_bad_row(path: Path, n_cols: int, what: str) -> None:
    for row, line in read_lines(path, what):
        fields = line.split()
        if len(fields) != n_cols:
            raise DataError(f"{path}:{row}: expected {n_cols} integers, got {len(fields)}")
        for field in fields:
            try:
                int(field)
            except ValueError:
                raise DataError(f"{path}:{row}: expected {n_cols} integers, found "
                                f"{field!r}") from None
    raise DataError(f"{path}: could not be read as rows of {n_cols} integers")


def parse_name_value(path: Path, what: str, *, value_first: bool
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of an image name and a number: ``<name> <value>`` (AADB) or ``<value> <name>``
    (TID2013's ``mos_with_names.txt``).

    Returns:
        names (N,) str, values (N,) float64, lines (N,) int64 (1-based line numbers, for messages).

    Raises:
        DataError: a row without exactly two fields or whose value is not a finite number.
    """
    names, values, rows = [], [], []
    layout = "<value> <image name>" if value_first else "<image name> <value>"
    for row, line in read_lines(path, what):
        fields = line.split()
        if len(fields) != 2:
            raise DataError(f"{path}:{row}: expected {layout}, got {len(fields)} fields")
        name, text = (fields[1], fields[0]) if value_first else fields
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not np.isfinite(value):
            raise DataError(f"{path}:{row}: expected {layout}, {text!r} is not a number")
        names.append(name)
        values.append(value)
        rows.append(row)
    if not names:
        raise DataError(f"{path}: the file is empty; expected rows of {layout}")
    return np.array(names), np.array(values, dtype=np.float64), np.array(rows, dtype=np.int64)


def parse_float_column(path: Path, what: str) -> np.ndarray:
    """(N,) float64 of a one-number-per-line file (TID2013's ``mos_std.txt``)."""
    out = []
    for row, line in read_lines(path, what):
        try:
            out.append(float(line))
        except ValueError:
            raise DataError(f"{path}:{row}: expected one number, got {line!r}") from None
    return np.array(out, dtype=np.float64)


def check_range(path: Path, rows: np.ndarray, values: np.ndarray, low: float, high: float,
                what: str) -> None:
    """A one-line error naming the first row whose value lies outside [low, high]."""
    bad = np.flatnonzero((values < low) | (values > high))
    if len(bad):
        k = bad[0]
        raise DataError(f"{path}:{rows[k]}: {what} {values[k]:g} is outside [{low:g}, {high:g}]")


def unique_names(path: Path, names: np.ndarray, rows: np.ndarray) -> None:
    """A one-line error naming the first repeated image name of a label file."""
    _, first, counts = np.unique(names, return_index=True, return_counts=True)
    if (counts > 1).any():
        name = str(names[first[np.flatnonzero(counts > 1)[0]]])
        where = rows[names == name]
        raise DataError(f"{path}:{where[1]}: image {name!r} is listed again (first on line "
                        f"{where[0]})")


def metrics_note(name: str, labels: LabelSpec) -> str:
    """One line saying which label kinds a dataset has and which metrics are therefore left out."""
    from harness.metrics import METRICS

    left_out = [m.title for m in METRICS.values() if not m.needs <= labels.kinds]
    kinds = ", ".join(sorted(labels.kinds)) or "none"
    if not left_out:
        return f"labels: {kinds} (every metric applies)"
    return (f"labels: {kinds} on [{labels.scale[0]:g}, {labels.scale[1]:g}]; {name} has no "
            f"labels for {', '.join(left_out)}, so they are left out")


def summarise_rows(path: Path, rows: list[int], limit: int = 5) -> str:
    """``AVA.txt:12, :40, :77 and 3 more`` for a note about skipped rows."""
    shown = [f"{path.name}:{rows[0]}"] + [f":{r}" for r in rows[1:limit]]
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return ", ".join(shown) + more
