"""Trajectories and landscape grids as CSV, JSON and NPZ, and reading back embedded configs.

No Qt here: everything runs headless.

Trajectory files
----------------
JSON and NPZ are the trace formats of :mod:`maml_gui.core.trace` (the config under the key
``config``); :func:`maml_gui.core.trace.load_trace` reads them back exactly.

CSV is one tidy table with **one row per inner-loop point** ``(step, task, inner_step)``::

    # config: {"schema_version": 1, "algorithm": "maml", ...}
    # maml-gui trajectory (format 1): one row per inner-loop point ...
    step,algorithm,task,task_id,inner_step,inner_loss,inner_grad_norm,phi_0,phi_1,
    task_meta_grad_0,task_meta_grad_1,loss_before,loss_after,theta_0,theta_1,
    theta_next_0,theta_next_1,meta_grad_0,meta_grad_1,meta_loss_before,meta_loss_after,diverged

- ``step`` counts from 0 as in trace files; ``inner_step`` j runs 0 … k, and ``phi_*`` is
  task i's point φʲ (φ⁰ = θ), ``inner_loss`` its support loss there, ``inner_grad_norm``
  the norm of the inner gradient taken there (empty at j = k, where no step is taken).
- Per-task columns (``task_id``, ``task_meta_grad_*``: the task's meta-gradient gᵢ,
  ``loss_before``/``loss_after``: query loss at θ and after adaptation) repeat on each of the
  task's rows; per-step columns (``theta_*``, ``theta_next_*``: θ after the meta-update,
  ``meta_grad_*``: the aggregate meta-gradient, the mean losses, ``diverged``) repeat on each
  of the step's rows. Filter ``inner_step == 0`` for one row per task, ``inner_step == 0 and
  task == 0`` for one row per meta-step.
- Numbers are written with Python's shortest round-trip ``repr`` (``nan``/``inf`` as such),
  so :func:`read_trajectory_csv` gives back the exact float64 values. Paths that were not
  recorded (``record_paths = none``) leave ``phi_*`` empty; with ``endpoints`` only j = 0
  and j = k have them. Steps a thinned trace did not record (see
  :mod:`maml_gui.core.recording`) leave ``theta_*``, ``theta_next_*``, ``meta_grad_*`` and
  ``task_meta_grad_*`` empty.
- Every writer streams: records may come from a generator of any length.

Landscape grids
---------------
NPZ: ``x`` (C,), ``y`` (R,), ``z`` (R, C) with ``z[r, c]`` the value at ``(x[c], y[r])``,
``surface``, ``label`` and ``config`` (JSON), the layout ``maml-gui landscape`` writes.
CSV: the ``# config:`` line, a ``# surface:`` line, then ``x,y,z`` with one row per grid
point, row by row (y outer, x inner).

Every file carries the config so :func:`read_embedded_config` (which reads every format
maml-gui exports: PNG, SVG, PDF, GIF, MP4, CSV, JSON, NPZ) can reproduce it.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import math
import re
import struct
import warnings
import zlib
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import numpy as np

from maml_gui.core.io import AtomicPath
from maml_gui.core.safe_read import (
    MAX_CONFIG_BYTES, MAX_MEDIA_BYTES, MAX_TRACE_JSON_BYTES, InputFileError, load_npz, mapped,
    open_regular, parse_json, parse_xml, read_bytes, read_json, scalar_text,
)
from maml_gui.core.trace import StepRecord, TraceWriter
from maml_gui.export import CONFIG_KEY, ExportError, export_format

CSV_FORMAT_VERSION = 1
TRAJECTORY_FORMATS = ("csv", "json", "npz")
GRID_FORMATS = ("csv", "npz")
CONFIG_PREFIX = "# config: "


def _config_dict(config: Any) -> dict[str, Any]:
    from maml_gui.core.config import Config, config_json

    return config_json(config) if isinstance(config, Config) else dict(config)


def _num(value: Any) -> str:
    value = float(value)
    return repr(value) if math.isfinite(value) else ("nan" if math.isnan(value) else
                                                     ("inf" if value > 0 else "-inf"))


def _parse(text: str) -> float:
    return float(text) if text != "" else math.nan


# --- trajectories ---------------------------------------------------------------------------

def trajectory_columns(param_dim: int) -> list[str]:
    def vec(name: str) -> list[str]:
        return [f"{name}_{d}" for d in range(param_dim)]

    return ["step", "algorithm", "task", "task_id", "inner_step", "inner_loss", "inner_grad_norm",
            *vec("phi"), *vec("task_meta_grad"), "loss_before", "loss_after", *vec("theta"),
            *vec("theta_next"), *vec("meta_grad"), "meta_loss_before", "meta_loss_after",
            "diverged"]


def _path_point(record: StepRecord, task: int, j: int) -> np.ndarray | None:
    """φʲ of ``task`` if the record kept it (full paths, or the endpoints j = 0 and j = k)."""
    paths = record.paths
    if paths is None:
        return None
    points, k = paths.shape[1], record.inner_steps
    if points == k + 1:
        return paths[task, j]
    if points == 2 and j in (0, k):
        return paths[task, 0 if j == 0 else -1]
    return None


def _cells(vector: np.ndarray | None, dim: int) -> list[str]:
    """A vector's cells, or empty ones where a thinned trace did not record it."""
    return [""] * dim if vector is None else [_num(v) for v in vector]


def _trajectory_rows(record: StepRecord, dim: int) -> Iterable[list[str]]:
    empty = [""] * dim
    step_cells = (_cells(record.theta, dim) + _cells(record.theta_next, dim)
                  + _cells(record.meta_grad, dim)
                  + [_num(record.meta_loss_before), _num(record.meta_loss_after),
                     "1" if record.diverged else "0"])
    grads = record.task_meta_grads
    for i in range(record.n_tasks):
        task_cells = (_cells(None if grads is None else grads[i], dim)
                      + [_num(record.loss_before[i]), _num(record.loss_after[i])])
        for j in range(record.inner_steps + 1):
            point = _path_point(record, i, j)
            norm = _num(record.inner_grad_norms[i, j]) if j < record.inner_steps else ""
            yield [str(record.step), record.algorithm, str(i), str(int(record.task_ids[i])),
                   str(j), _num(record.inner_losses[i, j]), norm,
                   *(empty if point is None else [_num(v) for v in point]),
                   *task_cells, *step_cells]


def _first_and_rest(records: Iterable[StepRecord]) -> tuple[StepRecord, Iterator[StepRecord]]:
    """The first record and all of them, without holding an iterable in memory."""
    iterator = iter(records)
    first = next(iterator, None)
    if first is None:
        raise ExportError("there are no meta-steps to export yet")
    return first, itertools.chain([first], iterator)


def write_trajectory_csv(path: str | Path, config: Any, records: Iterable[StepRecord], *,
                         param_dim: int | None = None) -> Path:
    """The trajectory as one tidy CSV table (see the module docstring), written atomically,
    one step at a time (``records`` may be a generator of any length). Thinned records
    (of a thinned trace) leave the vectors they lack empty."""
    first, records = _first_and_rest(records)
    if param_dim is None and first.theta is None:
        raise ExportError("the first step has no θ recorded: give param_dim")
    dim = param_dim or first.theta.shape[0]
    with AtomicPath(path) as temp:
        with open(temp, "w", encoding="utf-8", newline="") as handle:
            handle.write(CONFIG_PREFIX + json.dumps(_config_dict(config)) + "\n")
            handle.write(f"# maml-gui trajectory (format {CSV_FORMAT_VERSION}): one row per "
                         "inner-loop point (step, task, inner_step); phi = the task's point, "
                         "phi at inner_step 0 = theta\n")
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(trajectory_columns(dim))
            for record in records:
                writer.writerows(_trajectory_rows(record, dim))
    return Path(path)


def write_trajectory(path: str | Path, config: Any, records: Iterable[StepRecord], *,
                     meta: Mapping[str, Any] | None = None) -> Path:
    """Write the run's trajectory as CSV, JSON or NPZ (from ``path``'s extension), streamed:
    ``records`` may be a generator, one step is held in memory at a time. What is stored
    follows the config's ``record_*`` settings (all of it, every step, for small models).

    ``meta`` (JSON and NPZ only) is stored beside the steps, e.g. the family's ``param_dim``
    and ``axis_names``, as ``maml-gui run`` does.
    """
    fmt = export_format(path, TRAJECTORY_FORMATS)
    first, records = _first_and_rest(records)
    param_dim = (meta or {}).get("param_dim") or (first.theta is not None and first.theta.size)
    if not param_dim:
        raise ExportError("the first step has no θ recorded: give meta['param_dim']")
    recording = _recording(config, param_dim)
    if fmt == "csv":
        return write_trajectory_csv(path, config, recording.apply(records), param_dim=param_dim)
    with TraceWriter(path, _config_dict(config), recording=recording, meta=meta) as writer:
        for record in records:
            writer.append(record)
    return Path(path)


def _recording(config: Any, param_dim: int):
    """The config's ``record_*`` schedule: everything every step for small models, θ and
    the meta-gradient every 100 steps for the sinusoid MLP (see :mod:`maml_gui.core.recording`)."""
    from maml_gui.core.config import Config, make_config
    from maml_gui.core.recording import Recording

    if not isinstance(config, Config):
        config = make_config({k: v for k, v in dict(config).items() if k != "schema_version"})
    return Recording.from_config(config, param_dim)


def read_trajectory_csv(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read a trajectory CSV back: ``(config, arrays)`` with arrays laid out as
    :func:`maml_gui.core.trace.records_to_arrays` lays them out (one row per step, ragged
    inner-loop axes NaN-padded; float64): ``step, algorithm, task_ids, theta, theta_next,
    meta_grad, task_meta_grads, loss_before, loss_after, inner_steps, inner_losses,
    inner_grad_norms, paths, diverged``."""
    path = Path(path)
    with _open_csv(path) as handle:
        first = handle.readline()
        config = _config_from_comment(first, path)
        lines = (line for line in handle if not line.startswith("#"))
        reader = csv.reader(lines)
        header = next(reader)
        column = {name: index for index, name in enumerate(header)}
        dim = sum(1 for name in header if name.startswith("theta_") and
                  not name.startswith("theta_next"))
        steps: dict[int, dict[str, Any]] = {}
        for row in reader:
            s, i = int(row[column["step"]]), int(row[column["task"]])
            j = int(row[column["inner_step"]])

            def vec(name: str) -> list[float]:
                return [_parse(row[column[f"{name}_{d}"]]) for d in range(dim)]

            step = steps.get(s)
            if step is None:
                step = steps[s] = {
                    "algorithm": row[column["algorithm"]], "theta": vec("theta"),
                    "theta_next": vec("theta_next"), "meta_grad": vec("meta_grad"),
                    "diverged": row[column["diverged"]] == "1", "tasks": {}}
            task = step["tasks"].get(i)
            if task is None:
                task = step["tasks"][i] = {
                    "id": int(row[column["task_id"]]), "meta_grad": vec("task_meta_grad"),
                    "loss_before": _parse(row[column["loss_before"]]),
                    "loss_after": _parse(row[column["loss_after"]]), "points": {}}
            task["points"][j] = (vec("phi"), _parse(row[column["inner_loss"]]),
                                 _parse(row[column["inner_grad_norm"]]))
    return config, _csv_arrays(steps, dim)


def _csv_arrays(steps: Mapping[int, Mapping[str, Any]], dim: int) -> dict[str, np.ndarray]:
    order = sorted(steps)
    if not order:
        return {"step": np.zeros(0, dtype=np.int64)}
    n = max(len(steps[s]["tasks"]) for s in order)
    ks = [max(max(t["points"]) for t in steps[s]["tasks"].values()) for s in order]
    k_max = max(ks)
    paths = np.full((len(order), n, k_max + 1, dim), np.nan)
    inner_losses = np.full((len(order), n, k_max + 1), np.nan)
    inner_norms = np.full((len(order), n, k_max), np.nan)
    task_ids = np.zeros((len(order), n), dtype=np.int64)
    task_grads = np.full((len(order), n, dim), np.nan)
    before = np.full((len(order), n), np.nan)
    after = np.full((len(order), n), np.nan)
    for row, s in enumerate(order):
        for i, task in steps[s]["tasks"].items():
            task_ids[row, i] = task["id"]
            task_grads[row, i] = task["meta_grad"]
            before[row, i], after[row, i] = task["loss_before"], task["loss_after"]
            for j, (phi, loss, norm) in task["points"].items():
                paths[row, i, j] = phi
                inner_losses[row, i, j] = loss
                if j < ks[row]:
                    inner_norms[row, i, j] = norm
    return {
        "step": np.array(order, dtype=np.int64),
        "algorithm": np.array([steps[s]["algorithm"] for s in order]),
        "task_ids": task_ids,
        "theta": np.array([steps[s]["theta"] for s in order]),
        "theta_next": np.array([steps[s]["theta_next"] for s in order]),
        "meta_grad": np.array([steps[s]["meta_grad"] for s in order]),
        "task_meta_grads": task_grads,
        "loss_before": before,
        "loss_after": after,
        "inner_steps": np.array(ks, dtype=np.int64),
        "inner_losses": inner_losses,
        "inner_grad_norms": inner_norms,
        "paths": paths,
        "diverged": np.array([steps[s]["diverged"] for s in order]),
    }


# --- landscape grids ------------------------------------------------------------------------

def grid_arrays(config: Any, surface, *, plane=None) -> dict[str, np.ndarray]:
    """The NPZ arrays of a :class:`~maml_gui.core.landscape.Surface` (as ``maml-gui landscape``)."""
    arrays = {"x": np.asarray(surface.x), "y": np.asarray(surface.y), "z": np.asarray(surface.z),
              "surface": np.array(surface.name), "label": np.array(surface.label),
              "config": np.array(json.dumps(_config_dict(config)))}
    plane = plane if plane is not None else getattr(surface, "plane", None)
    if plane is not None:
        arrays.update(plane_centre=plane.centre, plane_directions=plane.directions,
                      plane=np.array(json.dumps({k: v for k, v in plane.to_dict().items()
                                                 if k not in ("centre", "directions")})))
    return arrays


def write_grid(path: str | Path, config: Any, surface, *, plane=None) -> Path:
    """Write a landscape grid (a :class:`~maml_gui.core.landscape.Surface`) as NPZ or CSV."""
    fmt = export_format(path, GRID_FORMATS)
    with AtomicPath(path) as temp:
        if fmt == "npz":
            with open(temp, "wb") as handle:
                np.savez_compressed(handle, **grid_arrays(config, surface, plane=plane))
        else:
            with open(temp, "w", encoding="utf-8", newline="") as handle:
                handle.write(CONFIG_PREFIX + json.dumps(_config_dict(config)) + "\n")
                handle.write(f"# surface: {surface.name}; {surface.label}; z[r, c] at "
                             "(x[c], y[r]), one row per grid point\n")
                handle.write("x,y,z\n")
                xs = [_num(v) for v in surface.x]
                for r, y in enumerate(surface.y):
                    yv = _num(y)
                    handle.write("".join(f"{xs[c]},{yv},{_num(z)}\n"
                                         for c, z in enumerate(surface.z[r])))
    return Path(path)


def read_grid_csv(path: str | Path) -> tuple[dict[str, Any], np.ndarray, np.ndarray, np.ndarray]:
    """``(config, x, y, z)`` of a grid CSV (``z[r, c]`` at ``(x[c], y[r])``)."""
    path = Path(path)
    with _open_csv(path) as handle:
        config = _config_from_comment(handle.readline(), path)
        rows = [line for line in handle if line.strip() and not line.startswith("#")]
    values = np.array([[_parse(v) for v in line.strip().split(",")] for line in rows[1:]])
    x = np.unique(values[:, 0]) if len(values) else np.zeros(0)
    y = np.array(list(dict.fromkeys(values[:, 1]))) if len(values) else np.zeros(0)
    return config, x, y, values[:, 2].reshape(len(y), len(x))


# --- the embedded config of any export ------------------------------------------------------

@contextlib.contextmanager
def _open_csv(path: Path):
    """A CSV export opened through the guarded reader, as text."""
    with open_regular(path, limit=MAX_MEDIA_BYTES, what="CSV file") as raw:
        yield io.TextIOWrapper(raw, encoding="utf-8", newline="")


def _config_from_comment(line: str, path: Path) -> dict[str, Any]:
    if not line.startswith(CONFIG_PREFIX):
        raise ExportError(f"{path}: no '# config:' line at the top: not a maml-gui CSV export")
    try:
        return parse_json(line[len(CONFIG_PREFIX):], f"{path}: the '# config:' line")
    except InputFileError as exc:
        raise ExportError(str(exc)) from None


def read_embedded_config(path: str | Path) -> dict[str, Any]:
    """The config (a JSON-ready dict with its schema version) embedded in an exported file.

    Reads PNG (tEXt chunk), SVG (``<desc>``), PDF (XMP ``maml:config``), GIF (comment),
    MP4 (``comment`` tag), CSV (``# config:`` line), JSON and NPZ (``config`` key).
    Raises :class:`~maml_gui.export.ExportError` with a readable reason otherwise.
    """
    return read_embedded_session(path)[0]


def read_embedded_session(path: str | Path):
    """``(config, view)`` embedded in an exported file: the config dict and a
    :class:`~maml_gui.view.WindowState`. Figures and animations carry the view they were drawn
    with (surface, range, log scale, plane, order, speed); data files carry only the config
    (the view is then the default one)."""
    path = Path(path)
    data = _read_embedded(path)
    view = data.get("view") if "config" in data and "algorithm" not in data else None
    if isinstance(data, dict) and "config" in data and "algorithm" not in data:
        data = data["config"]
    if not isinstance(data, dict):
        raise ExportError(f"{path}: the embedded config is not a JSON object")
    from maml_gui.view import ViewStateError, WindowState

    try:
        return data, WindowState.from_json(view or {}, f"{path.name}: view")
    except ViewStateError as exc:
        raise ExportError(str(exc)) from None


def _read_embedded(path: Path) -> dict[str, Any]:
    fmt = path.suffix.lower().lstrip(".")
    try:
        text = _embedded_text(path, fmt)
    except ExportError:
        raise
    except InputFileError as exc:
        raise ExportError(str(exc)) from None
    except (OSError, ValueError, KeyError, IndexError, struct.error, SyntaxError, EOFError,
            zlib.error, RecursionError, _DecompressionBomb) as exc:  # PIL's and the MP4
        # box parser's answers to junk
        raise ExportError(f"cannot read the config embedded in {path}: "
                          f"{(str(exc).strip() or type(exc).__name__).splitlines()[0]}") from None
    if text is None:
        raise ExportError(f"{path} has no maml-gui config embedded")
    try:
        data = parse_json(text, f"the config embedded in {path.name}") if isinstance(
            text, str) else text
    except InputFileError as exc:
        raise ExportError(str(exc)) from None
    if not isinstance(data, dict):
        raise ExportError(f"{path}: the embedded config is not a JSON object")
    return data


try:
    from PIL.Image import DecompressionBombError as _DecompressionBomb
except ImportError:  # pragma: no cover - pillow is a dependency
    class _DecompressionBomb(Exception):
        pass


def _embedded_text(path: Path, fmt: str) -> str | dict | None:
    """The embedded config's text, every file opened through :mod:`maml_gui.core.safe_read`."""
    if fmt == "json":
        return read_json(path, limit=MAX_TRACE_JSON_BYTES, what="file")
    if fmt == "npz":
        arrays = load_npz(path, names=("config",), budget=MAX_CONFIG_BYTES)
        return scalar_text(arrays, "config", str(path))
    if fmt == "csv":
        with open_regular(path, limit=MAX_MEDIA_BYTES, what="CSV file") as handle:
            line = handle.readline(MAX_CONFIG_BYTES).decode("utf-8")
        return json.dumps(_config_from_comment(line, path))
    if fmt in ("png", "gif"):
        from PIL import Image

        with open_regular(path, limit=MAX_MEDIA_BYTES, what="image") as handle, \
                warnings.catch_warnings():
            # only the metadata is read, never the pixels: a big image is no bomb here, and
            # PIL's warning would be a second line on stderr
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(handle) as image:
                if fmt == "png":
                    return image.text.get(CONFIG_KEY) if hasattr(image, "text") else None
                comment = image.info.get("comment")
                return comment.decode("utf-8") if isinstance(comment, bytes) else comment
    if fmt == "svg":
        root = parse_xml(read_bytes(path, limit=MAX_TRACE_JSON_BYTES, what="SVG file"),
                         f"SVG file {path.name}")
        desc = root.find("{http://www.w3.org/2000/svg}desc")
        return desc.text if desc is not None and desc.text else None
    if fmt == "pdf":
        from xml.sax.saxutils import unescape

        with mapped(path, what="PDF file") as data:
            match = re.search(rb"<maml:config>(.*?)</maml:config>", data, re.S)
            if match is None:
                return None
            return unescape(match.group(1).decode("utf-8"), {"&quot;": '"', "&apos;": "'"})
    if fmt == "mp4":
        with mapped(path, what="MP4 file") as data:
            return _mp4_comment(data)
    raise ExportError(f"{path}: cannot read a config from a .{fmt} file")


def _mp4_boxes(data: bytes, start: int, end: int) -> Iterable[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of the ISO-BMFF boxes in ``data[start:end]``."""
    while start + 8 <= end:
        size, kind = struct.unpack(">I4s", data[start:start + 8])
        header = 8
        if size == 1:
            size = struct.unpack(">Q", data[start + 8:start + 16])[0]
            header = 16
        elif size == 0:
            size = end - start
        if size < header:
            return
        yield kind, start + header, min(start + size, end)
        start += size


def _mp4_comment(data: bytes) -> str | None:
    """The ``©cmt`` text of ``moov/udta/meta/ilst`` (where ffmpeg writes ``-metadata comment``)."""
    def child(kind: bytes, start: int, end: int) -> tuple[int, int] | None:
        for k, s, e in _mp4_boxes(data, start, end):
            if k == kind:
                return s, e
        return None

    span = child(b"moov", 0, len(data))
    for kind in (b"udta", b"meta", b"ilst", b"\xa9cmt", b"data"):
        if span is None:
            return None
        start, end = span
        if kind == b"ilst":
            start += 4  # meta is a full box: version and flags come first
        span = child(kind, start, end)
    if span is None:
        return None
    start, end = span
    return data[start + 8:end].decode("utf-8")  # data: type (4 bytes), locale (4 bytes), text


def load_embedded_config(path: str | Path):
    """The :class:`~maml_gui.core.config.Config` embedded in an exported file."""
    from maml_gui.core.config import make_config

    return make_config(read_embedded_config(path))


__all__ = [
    "GRID_FORMATS", "TRAJECTORY_FORMATS", "grid_arrays", "load_embedded_config",
    "read_embedded_config", "read_embedded_session", "read_grid_csv", "read_trajectory_csv",
    "trajectory_columns", "write_grid", "write_trajectory", "write_trajectory_csv",
]
