"""An NPZ archive written row by row with bounded memory.

A ``.npz`` is a zip of ``.npy`` members, and a zip member must be written in one piece, but a
trace grows a dozen columns at once, one row per meta-step. So each column is appended to its
own spool file in a hidden folder beside the output (raw bytes, nothing kept in memory but a
few shapes), and :meth:`SpooledNpz.write` writes the archive at the end, copying each spool
into its member in blocks, with the ``.npy`` header written once the shape is known.

Rows of one column may grow (the number of inner steps k is a hot setting, CG stops after a
varying number of iterations): a column keeps a *capacity* shape that only grows, pads
smaller rows to it (NaN for floats, -1 for integers) and, in the archive, pads earlier rows to
the final capacity. Members are stored uncompressed: float data barely compresses, storing
keeps the size predictable (the run's size estimate) and the close fast.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path
from typing import BinaryIO

import numpy as np

BLOCK_BYTES = 1 << 20  # copy spools in blocks of this size


def _fill_value(dtype: np.dtype):
    if dtype.kind == "f":
        return np.nan
    if dtype.kind in "iu":
        return -1 if dtype.kind == "i" else 0
    return np.zeros((), dtype=dtype)[()]


class _Column:
    def __init__(self, path: Path, dtype: np.dtype, shape: tuple[int, ...]):
        self.path = path
        self.dtype = dtype
        self.capacity = shape
        self.runs: list[list] = [[shape, 0]]  # (capacity, rows): grows only when rows grow
        self.rows = 0
        self.file: BinaryIO = open(path, "w+b")

    def append(self, row: np.ndarray) -> None:
        row = np.asarray(row, dtype=self.dtype)
        if row.ndim != len(self.capacity):
            raise ValueError(f"a row of {row.ndim} dimensions in a column of {len(self.capacity)}")
        if row.shape != self.capacity:
            grown = tuple(max(a, b) for a, b in zip(row.shape, self.capacity))
            if grown != self.capacity:
                self.capacity = grown
                self.runs.append([grown, 0])
            padded = np.full(self.capacity, _fill_value(self.dtype), dtype=self.dtype)
            padded[tuple(slice(0, n) for n in row.shape)] = row
            row = padded
        self.file.write(np.ascontiguousarray(row).tobytes())
        self.runs[-1][1] += 1
        self.rows += 1

    def copy_into(self, out: BinaryIO) -> None:
        """Write the ``.npy`` (header and rows padded to the final capacity) to ``out``."""
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False,
                  "shape": (self.rows, *self.capacity)}
        np.lib.format.write_array_header_1_0(out, header)
        self.file.flush()
        self.file.seek(0)
        for shape, count in self.runs:
            row_bytes = int(np.prod(shape, dtype=np.int64)) * self.dtype.itemsize
            per_block = max(1, BLOCK_BYTES // max(row_bytes, 1))
            left = count
            while left:
                rows = min(left, per_block)
                data = self.file.read(rows * row_bytes)
                if shape != self.capacity:
                    block = np.frombuffer(data, dtype=self.dtype).reshape(rows, *shape)
                    padded = np.full((rows, *self.capacity), _fill_value(self.dtype),
                                     dtype=self.dtype)
                    padded[(slice(None), *(slice(0, n) for n in shape))] = block
                    data = padded.tobytes()
                out.write(data)
                left -= rows

    def close(self) -> None:
        if not self.file.closed:
            self.file.close()


class SpooledNpz:
    """Columns appended one row at a time to spool files under ``folder``; :meth:`write`
    turns them (and a few small arrays) into a standard ``.npz`` readable by ``numpy.load``."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir()
        self.columns: dict[str, _Column] = {}

    def append(self, name: str, row) -> None:
        column = self.columns.get(name)
        if column is None:
            row = np.asarray(row)
            column = _Column(self.folder / f"{len(self.columns)}.raw", row.dtype, row.shape)
            self.columns[name] = column
        column.append(row)

    def rows(self, name: str) -> int:
        column = self.columns.get(name)
        return 0 if column is None else column.rows

    def write(self, handle: BinaryIO, small: dict[str, np.ndarray]) -> None:
        """The archive: every column, then the ``small`` arrays (written whole)."""
        with zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            for name, column in self.columns.items():
                with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                    column.copy_into(member)
            for name, value in small.items():
                with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asarray(value), allow_pickle=False)

    def discard(self) -> None:
        """Close and delete the spool files."""
        for column in self.columns.values():
            column.close()
        shutil.rmtree(self.folder, ignore_errors=True)
