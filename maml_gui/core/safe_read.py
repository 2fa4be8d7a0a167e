"""The one guarded way in for every file maml-gui reads.

Config, session, preset and trace files and the configs embedded in exported figures,
animations and data all come through here, because every reader meets hostile or careless
files: a FIFO that blocks ``open()`` forever, a 10 GB file given as a config, JSON nested
100,000 deep (``RecursionError``), integers with 5,000 digits (``ValueError``), broken or
billion-laughs XML, an NPZ whose header claims 10¹² elements or that unzips to gigabytes.
Each of these becomes :class:`InputFileError`, a ``ValueError`` with a one-line reason, which
every caller turns into ``maml-gui: …`` and exit 2 (or a dialog in the window).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import mmap
import os
import stat
import zipfile
from pathlib import Path
from typing import Any, BinaryIO, Iterator

import numpy as np

KB, MB, GB = 1024, 1024**2, 1024**3
MAX_CONFIG_BYTES = 16 * MB  # configs, sessions, presets, an embedded config
MAX_TRACE_JSON_BYTES = 512 * MB  # json.loads needs ~10× the text in Python objects
MAX_MEDIA_BYTES = 4 * GB  # PNG/SVG/PDF/GIF/MP4 scanned for their embedded config
MAX_NPZ_ARRAY_BYTES = 2 * GB  # all arrays of a trace or grid NPZ, unpacked
MAX_JSON_DEPTH = 32  # the deepest maml-gui file (a trace's inner paths) nests 6 deep
MAX_INT_DIGITS = 100  # seeds and counts have at most 10 digits


class InputFileError(ValueError):
    """A file cannot be read safely or is not what it should be; the message is one line."""


class JSONSyntaxError(InputFileError):
    """The text is not JSON at all (as opposed to JSON that is too deep or too long)."""


def _size_text(n: int) -> str:
    for unit, size in (("GB", GB), ("MB", MB), ("kB", KB)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


@contextlib.contextmanager
def open_regular(path: str | Path, *, limit: int, what: str = "file") -> Iterator[BinaryIO]:
    """Open ``path`` for binary reading if it is a non-empty regular file of at most ``limit``
    bytes; :class:`InputFileError` otherwise.

    ``O_NONBLOCK`` makes opening a FIFO return at once instead of waiting for a writer, and
    the type is checked on the opened descriptor, so a file swapped after a check is caught.
    """
    path = Path(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise InputFileError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InputFileError(f"cannot read {what} {path}: it is {_kind(info.st_mode)}, "
                                 "not a regular file")
        if info.st_size == 0:
            raise InputFileError(f"{what} {path} is empty")
        if info.st_size > limit:
            raise InputFileError(f"{what} {path} is {_size_text(info.st_size)}, larger than the "
                                 f"{_size_text(limit)} maml-gui reads as a {what}")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)  # a regular file: ordinary reads from here on
        handle = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with handle:
        yield handle


def read_bytes(path: str | Path, *, limit: int = MAX_CONFIG_BYTES, what: str = "file") -> bytes:
    """The whole of a regular file of at most ``limit`` bytes."""
    with open_regular(path, limit=limit, what=what) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:  # it grew while we read it
        raise InputFileError(f"{what} {path} is larger than the {_size_text(limit)} limit")
    return data


def read_text(path: str | Path, *, limit: int = MAX_CONFIG_BYTES, what: str = "file") -> str:
    """A regular UTF-8 text file of at most ``limit`` bytes."""
    try:
        return read_bytes(path, limit=limit, what=what).decode("utf-8")
    except UnicodeDecodeError:
        raise InputFileError(f"{what} {path} is not a text file (not UTF-8)") from None


@contextlib.contextmanager
def mapped(path: str | Path, *, limit: int = MAX_MEDIA_BYTES, what: str = "file") -> Iterator[Any]:
    """A read-only memory map of a regular file: large media are searched without reading
    them into memory."""
    with open_regular(path, limit=limit, what=what) as handle:
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
            yield view


# --- JSON -----------------------------------------------------------------------------------

def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise InputFileError(f"an integer with {len(text.lstrip('-')):,} digits (at most "
                             f"{MAX_INT_DIGITS})")
    return int(text)


def check_depth(value: Any, limit: int = MAX_JSON_DEPTH) -> None:
    """Raise :class:`InputFileError` if JSON data nests deeper than ``limit`` (iteratively:
    the check itself cannot hit the recursion limit)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise InputFileError(f"nested more than {limit} levels deep")
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, (dict, list)))


def parse_json(text: str | bytes, where: str = "JSON") -> Any:
    """``json.loads`` with a depth and number-length limit: :class:`InputFileError` naming
    ``where`` and the problem for anything that is not plain, reasonable JSON."""
    try:
        data = json.loads(text, parse_int=_parse_int)
    except json.JSONDecodeError as exc:
        raise JSONSyntaxError(f"{where} is not valid JSON (line {exc.lineno}, column "
                             f"{exc.colno}: {exc.msg})") from None
    except RecursionError:
        raise InputFileError(f"{where} is nested too deeply") from None
    except InputFileError as exc:
        raise InputFileError(f"{where}: {exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:  # e.g. bytes that are not UTF-8
        raise JSONSyntaxError(f"{where} is not valid JSON ({_first_line(exc)})") from None
    if isinstance(data, (dict, list)):
        try:
            check_depth(data)
        except InputFileError as exc:
            raise InputFileError(f"{where}: {exc}") from None
    return data


def read_json(path: str | Path, *, limit: int = MAX_CONFIG_BYTES, what: str = "file") -> Any:
    """A regular, size-limited file parsed with :func:`parse_json`."""
    return parse_json(read_text(path, limit=limit, what=what), f"{what} {Path(path).name}")


def shown_name(name: object, limit: int = 60) -> str:
    """A name from a file (a key, a setting) fit for a one-line message: as it is when it is
    plain printable text, else quoted with escapes; at most ``limit`` characters."""
    text = str(name)
    if not text.isprintable():
        text = json.dumps(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


# --- XML ------------------------------------------------------------------------------------

def parse_xml(data: bytes, where: str = "XML"):
    """The root element of untrusted XML: no entity expansion, no external references."""
    import defusedxml.ElementTree as SafeET
    from defusedxml import DefusedXmlException

    try:
        return SafeET.fromstring(data)
    except DefusedXmlException as exc:
        raise InputFileError(f"{where} uses XML features maml-gui refuses ({_first_line(exc)})"
                             ) from None
    except (SafeET.ParseError, ValueError, RecursionError) as exc:
        raise InputFileError(f"{where} is not valid XML ({_first_line(exc)})") from None


# --- NPZ ------------------------------------------------------------------------------------

def _array_header(member: BinaryIO) -> tuple[tuple[int, ...], np.dtype, int]:
    fmt = np.lib.format
    version = fmt.read_magic(member)
    if version == (1, 0):
        shape, _fortran, dtype = fmt.read_array_header_1_0(member)
    elif version == (2, 0):
        shape, _fortran, dtype = fmt.read_array_header_2_0(member)
    else:
        raise ValueError(f"unsupported .npy version {version}")
    return shape, dtype, member.tell()


def load_npz(path: str | Path, *, names: tuple[str, ...] | None = None,
             budget: int = MAX_NPZ_ARRAY_BYTES, what: str = "NPZ file") -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` (only ``names`` if given, missing ones skipped), each
    checked before it is allocated: its ``.npy`` header must agree with the zip entry's size,
    hold no Python objects, and all of them together fit ``budget`` bytes.

    Zip bombs and lying headers are refused from the headers alone: the zip reader never
    returns more than an entry's declared size, and that size is what the budget counts.
    """
    path = Path(path)
    where = f"{what} {path}"
    with open_regular(path, limit=MAX_MEDIA_BYTES, what=what) as handle:
        try:
            archive = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
            raise InputFileError(f"{where} is not an NPZ archive ({_first_line(exc)})") from None
        with archive:
            infos = [i for i in archive.infolist() if i.filename.endswith(".npy")]
            if not infos:
                raise InputFileError(f"{where} holds no arrays")
            if names is not None:
                infos = [i for i in infos if i.filename[:-4] in names]
            total = sum(i.file_size for i in infos)
            if total > budget:
                raise InputFileError(f"{where} unpacks to {_size_text(total)}, more than the "
                                     f"{_size_text(budget)} maml-gui loads")
            arrays = {}
            for info in infos:
                try:
                    arrays[info.filename[:-4]] = _load_member(archive, info)
                except InputFileError as exc:
                    raise InputFileError(f"{where}: {info.filename}: {exc}") from None
                except (ValueError, OSError, EOFError, zipfile.BadZipFile, RuntimeError,
                        NotImplementedError, SyntaxError, TypeError, KeyError,
                        MemoryError) as exc:
                    raise InputFileError(f"{where}: {info.filename} is damaged "
                                         f"({_first_line(exc)})") from None
    return arrays


def _load_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    with archive.open(info) as member:
        shape, dtype, header = _array_header(member)
        if dtype.hasobject:
            raise InputFileError("holds Python objects, which maml-gui never loads")
        if any(not isinstance(n, int) or n < 0 for n in shape):
            raise InputFileError(f"has an invalid shape {shape}")
        claimed = math.prod(shape) * dtype.itemsize
        if claimed != info.file_size - header:
            raise InputFileError(f"its header claims {_size_text(claimed)} of data but the "
                                 f"entry holds {_size_text(max(info.file_size - header, 0))}")
    with archive.open(info) as member:
        return np.lib.format.read_array(io.BufferedReader(member), allow_pickle=False)


def scalar_text(arrays: dict[str, np.ndarray], key: str, where: str) -> str | None:
    """A 0-d string array of an NPZ as text (the ``config`` and ``meta`` entries)."""
    if key not in arrays:
        return None
    value = arrays[key]
    if value.shape != () or value.dtype.kind not in "US":
        raise InputFileError(f"{where}: {key!r} is not a text entry")
    item = value.item()
    return item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)


__all__ = [
    "InputFileError", "JSONSyntaxError", "MAX_CONFIG_BYTES", "MAX_INT_DIGITS", "MAX_JSON_DEPTH", "MAX_MEDIA_BYTES",
    "MAX_NPZ_ARRAY_BYTES", "MAX_TRACE_JSON_BYTES", "check_depth", "load_npz", "mapped",
    "open_regular", "parse_json", "parse_xml", "read_bytes", "read_json", "read_text",
    "scalar_text", "shown_name",
]
