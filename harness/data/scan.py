"""Finding image files without decoding them: one directory listing per folder.

A dataset loader lists its image folder once (``os.scandir``; about 0.3 s for AVA's 255k files),
resolves the names of its label file against that listing case-insensitively (TID2013 lists
``I01_13_1.BMP`` where copies store ``I01_13_1.bmp``), and fails fast, naming the folder, when
more than :data:`harness.data.loading.MAX_UNREADABLE` of the listed images are missing. Missing
images below that fraction stay in the records: the loader skips them when it reads them and
lists them in the run's ``skipped.csv``, like any other unreadable image.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from harness.data.loading import MAX_UNREADABLE, MIN_ATTEMPTS
from harness.errors import DataError

#: File name endings the image-folder datasets accept (compared case-insensitively).
IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "bmp", "webp")


class FolderIndex:
    """The files directly in ``folder``, looked up by name case-insensitively.

    Where two files differ only in case (``a.jpg`` and ``A.JPG``), an exact match wins and the
    case-insensitive lookup returns the first in sorted order. The case-insensitive table is
    built only when some name has no exact match.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        with os.scandir(self.folder) as entries:
            self.exact = {entry.name for entry in entries}
        self._lower: dict[str, str] | None = None

    def __len__(self) -> int:
        return len(self.exact)

    @property
    def lower(self) -> dict[str, str]:
        if self._lower is None:
            self._lower = {}
            for name in sorted(self.exact):
                self._lower.setdefault(name.lower(), name)
        return self._lower

    def find(self, name: str) -> str | None:
        """The file name on disk for ``name`` (exact, else case-insensitive), or None."""
        if name in self.exact:
            return name
        return self.lower.get(name.lower())

    def resolve(self, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Paths and a found-mask for ``names``; a missing name keeps its expected path.

        Returns:
            paths (N,) str, found (N,) bool.
        """
        names = np.asarray(names, dtype=str)
        listed = names.tolist()
        found = np.fromiter(map(self.exact.__contains__, listed), dtype=bool, count=len(listed))
        misses = np.flatnonzero(~found)
        if len(misses):  # names whose case differs from the file's, or missing files
            on_disk = names.astype(object)
            for k in misses:
                match = self.lower.get(listed[k].lower())
                if match is not None:
                    on_disk[k], found[k] = match, True
            names = on_disk.astype(str)
        return np.strings.add(str(self.folder) + os.sep, names), found


def missing_note(dataset: str, folder: Path | str, listing: str, missing_names: Sequence[str],
                 total: int) -> str | None:
    """A note about images that ``listing`` names but ``folder`` lacks, or an error.

    Args:
        dataset: plugin name, for the message.
        folder: where the images were looked for (named in the message).
        listing: the label file(s) that list them, e.g. ``"AVA.txt"``.
        missing_names: the names not found.
        total: how many images the listing names.

    Raises:
        DataError: more than 1 % of the ``total`` listed images are missing, naming the folder.
            Like the loader's own count (which judges only after ``MIN_ATTEMPTS`` = 200 reads),
            a dataset of fewer than 200 images may miss up to 2.
    """
    k = len(missing_names)
    if k == 0:
        return None
    if k > MAX_UNREADABLE * max(total, MIN_ATTEMPTS):
        raise DataError(f"{dataset}: {k} of {total} images listed in {listing} are missing from "
                        f"{folder} (more than {MAX_UNREADABLE:.0%}); check dataset.root and the "
                        f"image folder")
    shown = ", ".join(list(missing_names)[:3]) + (" ..." if k > 3 else "")
    return (f"{k} of {total} images listed in {listing} are missing from {folder} ({shown}); "
            f"they are skipped when read and listed in skipped.csv")


def image_files(root: Path, extensions: Sequence[str] = IMAGE_EXTENSIONS
                ) -> tuple[list[str], int]:
    """Relative POSIX paths of the image files under ``root`` (recursive, sorted), and how many
    other files were passed over.

    Hidden files and folders (names starting with ``.``, e.g. macOS ``._x.jpg`` resource forks)
    are passed over. Symbolic links to folders are not followed.
    """
    wanted = {e.lower().lstrip(".") for e in extensions}
    found, other = [], 0
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        rel = os.path.relpath(folder, root)
        for name in files:
            if name.startswith("."):
                other += 1
                continue
            if name.rsplit(".", 1)[-1].lower() in wanted and "." in name:
                found.append(name if rel == "." else f"{rel}/{name}".replace(os.sep, "/"))
            else:
                other += 1
    found.sort()
    return found, other

