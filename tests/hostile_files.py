"""Hostile and careless input files, one per class the readers must refuse in one line.

Shared by the CLI tests (``tests/cli/test_hostile_inputs.py``) and the window's File → Open
tests (``tests/widgets/test_open_hostile.py``).
"""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

DEEP = 100_000  # far past Python's recursion limit
MODERATE = 60  # under the recursion limit, over the readers' nesting limit


def deep_json(depth: int = DEEP) -> str:
    return "[" * depth + "]" * depth


def png_with_text(key: str, text: str) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00\x00")
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"tEXt", key.encode("latin-1") + b"\x00" + text.encode("latin-1"))
            + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def mp4_with_comment(text: str) -> bytes:
    data = _box(b"data", b"\x00\x00\x00\x01\x00\x00\x00\x00" + text.encode())
    ilst = _box(b"ilst", _box(b"\xa9cmt", data))
    meta = _box(b"meta", b"\x00\x00\x00\x00" + ilst)
    return _box(b"ftyp", b"isom\x00\x00\x02\x00") + _box(b"moov", _box(b"udta", meta))


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def _npz(path: Path, members: dict[str, bytes], compress: bool = True) -> None:
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(f"{name}.npy", data)


def _lying_header_npz(path: Path) -> None:
    """``config.npy``'s header claims 10¹² float64 numbers; 80 bytes follow."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)})
    _npz(path, {"config": buffer.getvalue() + b"\0" * 80, "format": _npy(np.array("x"))})


def _zip_bomb_npz(path: Path) -> None:
    """``config.npy``: 64 MB of zeros that compress to about 64 kB."""
    _npz(path, {"config": _npy(np.zeros(8 * 1024**2))})


def _declared_huge_npz(path: Path) -> None:
    """A member whose zip directory claims 4 GB unpacked (a lying zip header)."""
    _npz(path, {"config": _npy(np.array(json.dumps({"algorithm": "maml"})))})
    data = bytearray(path.read_bytes())
    central = data.index(b"PK\x01\x02")
    data[central + 24:central + 28] = struct.pack("<I", 0xFFFFFFF0)
    path.write_bytes(bytes(data))


def _sparse(path: Path, size: int) -> None:
    """A file of ``size`` bytes that takes no disk space."""
    path.write_bytes(b"{")
    os.truncate(path, size)


SVG_NS = 'xmlns="http://www.w3.org/2000/svg"'


def svg_with_desc(text: str) -> str:
    from xml.sax.saxutils import escape

    return f"<svg {SVG_NS}><desc>{escape(text)}</desc></svg>"

# name → (file name, how to make it, words expected in the one-line message)
CLASSES = {
    "deep JSON": ("deep.json", lambda p: p.write_text(deep_json()), "nested too deeply"),
    "JSON nested 60 deep": ("nested.json", lambda p: p.write_text(deep_json(MODERATE)),
                            "nested more than"),
    "integer of 5,000 digits": ("bigint.json", lambda p: p.write_text(
        '{"seed": ' + "9" * 5000 + "}"), "5,000 digits"),
    "empty file": ("empty.json", lambda p: p.write_bytes(b""), "is empty"),
    "binary file": ("binary.json", lambda p: p.write_bytes(b"\xff\xfe\x00\x81" * 100),
                    "not a text file"),
    "FIFO": ("fifo.json", lambda p: os.mkfifo(p), "FIFO"),
    "folder": ("folder.json", lambda p: p.mkdir(), "folder"),
    "file over the size limit": ("huge.json", lambda p: _sparse(p, 64 * 1024**2),
                                 "larger than"),
    "malformed SVG": ("broken.svg", lambda p: p.write_text(f"<svg {SVG_NS}><desc>"),
                      "not valid XML"),
    "empty SVG": ("empty.svg", lambda p: p.write_bytes(b""), "is empty"),
    "SVG with an external entity (XXE)": ("xxe.svg", lambda p: p.write_text(
        '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        f"<svg {SVG_NS}><desc>&x;</desc></svg>"), "refuses"),
    "billion-laughs SVG": ("laughs.svg", lambda p: p.write_text(
        '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;">]>' f"<svg {SVG_NS}><desc>&c;</desc></svg>"),
                           "refuses"),
    "SVG holding deep JSON": ("deep.svg", lambda p: p.write_text(
        f"<svg {SVG_NS}><desc>{deep_json()}</desc></svg>"), "nested too deeply"),
    "PNG holding deep JSON": ("deep.png", lambda p: p.write_bytes(
        png_with_text("maml-gui-config", deep_json())), "nested too deeply"),
    "PNG of junk": ("junk.png", lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\njunk" * 10),
                    "cannot read the config"),
    "PDF holding deep JSON": ("deep.pdf", lambda p: p.write_bytes(
        b"%PDF-1.4\n<maml:config>" + deep_json().encode() + b"</maml:config>\n%%EOF"),
                              "nested too deeply"),
    "GIF of junk": ("junk.gif", lambda p: p.write_bytes(b"GIF89a" + b"\x00" * 3),
                    "cannot read the config"),
    "MP4 holding deep JSON": ("deep.mp4", lambda p: p.write_bytes(
        mp4_with_comment(deep_json())), "nested too deeply"),
    "MP4 of junk": ("junk.mp4", lambda p: p.write_bytes(b"\x00\x00\x00\x01moov" + b"\xff" * 9),
                    "has no maml-gui config"),
    "CSV holding deep JSON": ("deep.csv", lambda p: p.write_text(
        "# config: " + deep_json() + "\nstep\n"), "nested too deeply"),
    "empty NPZ": ("empty.npz", lambda p: p.write_bytes(b""), "is empty"),
    "NPZ that is not a zip": ("junk.npz", lambda p: p.write_bytes(b"PK\x03\x04junk" * 4),
                              "not an NPZ archive"),
    "NPZ with a lying array header": ("lying.npz", _lying_header_npz, "header claims"),
    "NPZ zip bomb": ("bomb.npz", _zip_bomb_npz, "unpacks to"),
    "NPZ with a lying zip header": ("declared.npz", _declared_huge_npz, "unpacks to"),
    "NPZ holding deep JSON": ("deepconfig.npz", lambda p: _npz(
        p, {"config": _npy(np.array(deep_json(2000)))}), "nested too deeply"),
    "NPZ holding Python objects": ("objects.npz", lambda p: _npz(
        p, {"config": _npy(np.array([{"a": 1}], dtype=object))}), "Python objects"),
}


def make(name: str, folder: Path) -> Path:
    """Create the hostile file of class ``name`` in ``folder``; its path."""
    file_name, maker, _words = CLASSES[name]
    path = folder / file_name
    maker(path)
    return path


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every entry of ``folder`` with its bytes (None for what is not a regular file)."""
    return {p.name: (p.read_bytes() if p.is_file() and not p.is_fifo() else None)
            for p in folder.iterdir()}
