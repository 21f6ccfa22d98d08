"""Label-file parsing: exact values and the one-line errors naming file and row."""

from __future__ import annotations

import numpy as np
import pytest

from harness.data.parsing import (
    check_range,
    metrics_note,
    parse_float_column,
    parse_int_table,
    parse_name_value,
    read_lines,
    summarise_rows,
    unique_names,
)
from harness.data.records import AVA_LABELS, LabelSpec
from harness.errors import DataError


def test_int_table_reads_every_row(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("1 2 3\n\n4 5 6  \n-7 8 9\n")
    np.testing.assert_array_equal(parse_int_table(path, 3, "table"),
                                  [[1, 2, 3], [4, 5, 6], [-7, 8, 9]])


@pytest.mark.parametrize("body, message", [
    ("1 2 3\n4 5 6\n7 8\n", "t.txt:3: expected 3 integers, got 2"),
    ("1 2 3\n4 5 6 7\n", "t.txt:2: expected 3 integers, got 4"),
    ("1 2 3\n\n4 5 x\n", "t.txt:3: expected 3 integers, found 'x'"),
    ("1 2 3.5\n", "t.txt:1: expected 3 integers, found '3.5'"),
    ("1 2\n3 4\n", "t.txt:1: expected 3 integers, got 2"),
])
def test_int_table_names_the_first_bad_line(tmp_path, body, message):
    path = tmp_path / "t.txt"
    path.write_text(body)
    with pytest.raises(DataError) as error:
        parse_int_table(path, 3, "table")
    assert str(error.value) == f"{path.parent}/{message}"


def test_missing_and_empty_files_are_named(tmp_path):
    with pytest.raises(DataError, match=f"AVA label file not found: expected {tmp_path}/no.txt"):
        parse_int_table(tmp_path / "no.txt", 15, "AVA label file")
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(DataError, match="empty.txt: the file is empty"):
        parse_int_table(tmp_path / "empty.txt", 15, "AVA label file")


def test_crlf_and_bom_are_accepted(tmp_path):
    path = tmp_path / "mos.txt"
    path.write_bytes("\ufeff5.51429 I01_01_1.bmp\r\n0.24242 i09_24_5.bmp\r\n".encode("utf-8"))
    names, values, rows = parse_name_value(path, "mos", value_first=True)
    assert names.tolist() == ["I01_01_1.bmp", "i09_24_5.bmp"]
    np.testing.assert_array_equal(values, [5.51429, 0.24242])
    np.testing.assert_array_equal(rows, [1, 2])
    assert read_lines(path, "mos")[1] == (2, "0.24242 i09_24_5.bmp")


@pytest.mark.parametrize("body, message", [
    ("a.jpg 0.5\nb.jpg\n", "2: expected <image name> <value>, got 1 fields"),
    ("a.jpg 0.5\nb.jpg high\n", "2: expected <image name> <value>, 'high' is not a number"),
    ("a.jpg nan\n", "1: expected <image name> <value>, 'nan' is not a number"),
])
def test_name_value_errors(tmp_path, body, message):
    path = tmp_path / "list.txt"
    path.write_text(body)
    with pytest.raises(DataError, match=f"list.txt:{message}"):
        parse_name_value(path, "list", value_first=False)


def test_float_column_and_range_and_duplicates(tmp_path):
    path = tmp_path / "std.txt"
    path.write_text("0.13013\r\n0\r\n")
    np.testing.assert_array_equal(parse_float_column(path, "std"), [0.13013, 0.0])
    with pytest.raises(DataError, match=r"s.txt:7: score 1.2 is outside \[0, 1\]"):
        check_range(tmp_path / "s.txt", np.array([5, 7]), np.array([0.5, 1.2]), 0, 1, "score")
    with pytest.raises(DataError, match=r"s.txt:9: image 'b' is listed again \(first on line 4\)"):
        unique_names(tmp_path / "s.txt", np.array(["a", "b", "c", "b"]), np.array([2, 4, 6, 9]))


def test_metrics_note_lists_what_a_dataset_cannot_support():
    assert metrics_note("AVA", AVA_LABELS) == \
        "labels: binary, distribution, score (every metric applies)"
    note = metrics_note("CUHK-PQ", LabelSpec(kinds={"binary"}, scale=(0, 1), threshold=0.5))
    assert "SRCC" in note and "EMD" in note and "ACC" not in note


def test_summarise_rows(tmp_path):
    assert summarise_rows(tmp_path / "AVA.txt", [3, 9]) == "AVA.txt:3, :9"
    assert summarise_rows(tmp_path / "AVA.txt", list(range(1, 9)), limit=2) == \
        "AVA.txt:1, :2 and 6 more"
