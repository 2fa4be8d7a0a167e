"""Step records (numpy only, read-only once made) and trace files in JSON and NPZ.

Both formats are streamed step by step, so a run of any length holds one step in memory
(NPZ columns are spooled to disk, see :mod:`maml_gui.core.npz_stream`); every file is
written under a temporary name and renamed at the end (no half-written files).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import numpy as np

from maml_gui.core.io import AtomicPath
from maml_gui.core.safe_read import (
    MAX_TRACE_JSON_BYTES, InputFileError, load_npz, parse_json, read_json, scalar_text,
)

TRACE_FORMAT = "maml-gui-trace"
TRACE_VERSION = 2  # 2: thinned steps, streamed NPZ columns, a summary at the end


def _frozen(array: Any, dtype: Any = None) -> np.ndarray:
    out = np.array(array, dtype=dtype, copy=True)
    out.flags.writeable = False
    return out


@dataclass(frozen=True)
class StepRecord:
    """Everything about one meta-step. Arrays are read-only numpy copies (safe across threads).

    ``paths[i, j]`` is task i's inner point φʲ (``paths[i, 0]`` = θ); ``inner_losses[i, j]`` its
    support loss there; ``loss_before``/``loss_after`` are query losses at θ and at φᵏ.
    """

    step: int
    algorithm: str
    theta: np.ndarray | None  # (P,); None on a step a thinned trace did not record
    theta_next: np.ndarray | None  # (P,)
    task_ids: np.ndarray  # (n,) pool index, -1 for fresh tasks
    paths: np.ndarray | None  # (n, k+1, P), or fewer points when thinned
    task_meta_grads: np.ndarray | None  # (n, P)
    meta_grad: np.ndarray | None  # (P,)
    loss_before: np.ndarray  # (n,)
    loss_after: np.ndarray  # (n,)
    inner_losses: np.ndarray  # (n, k+1)
    inner_grad_norms: np.ndarray  # (n, k)
    hyper: Mapping[str, Any]
    wall_time: float
    grad_evals: int = 0
    hvp_evals: int = 0
    diagnostics: Mapping[str, np.ndarray] = field(default_factory=dict)
    diverged: bool = False
    reason: str | None = None

    @property
    def n_tasks(self) -> int:
        return int(self.loss_before.shape[0])

    @property
    def inner_steps(self) -> int:
        return int(self.inner_losses.shape[1]) - 1

    @property
    def meta_loss_before(self) -> float:
        return float(np.mean(self.loss_before))

    @property
    def meta_loss_after(self) -> float:
        return float(np.mean(self.loss_after))

    @property
    def worst_loss_after(self) -> float:
        return float(np.max(self.loss_after))

    def with_paths(self, mode: str) -> "StepRecord":
        """A copy whose paths keep ``full`` points, only the ``endpoints`` (θ, φᵏ), or ``none``."""
        if mode == "full" or self.paths is None:
            return self
        paths = None if mode == "none" else _frozen(self.paths[:, [0, -1]])
        return StepRecord(**{**self.__dict__, "paths": paths})

    def without(self, *names: str) -> "StepRecord":
        """A copy with the big arrays ``names`` (θ, gradients, paths) left out."""
        return StepRecord(**{**self.__dict__, **{name: None for name in names}})


def make_record(**values: Any) -> StepRecord:
    """Build a :class:`StepRecord`, turning every array into a read-only numpy copy."""
    arrays = ("theta", "theta_next", "paths", "task_meta_grads", "meta_grad", "loss_before",
              "loss_after", "inner_losses", "inner_grad_norms")
    for key in arrays:
        if values.get(key) is not None:
            values[key] = _frozen(values[key])
    values["task_ids"] = _frozen(values["task_ids"], dtype=np.int64)
    values["diagnostics"] = {k: _frozen(v) for k, v in values.get("diagnostics", {}).items()}
    values["hyper"] = dict(values["hyper"])
    return StepRecord(**values)


# --- JSON ---------------------------------------------------------------------------------

def _json_number(x: float) -> float | str:
    # JSON has no NaN/Infinity: keep them readable and loadable as strings.
    return float(x) if math.isfinite(x) else repr(float(x))


def _to_json(array: np.ndarray) -> Any:
    """Nested lists of numbers; float32 values in their shortest float32 form (``0.3``, not
    ``0.30000001192092896``), which reads back to the same float32 and is half as long."""
    array = np.asarray(array)
    if array.ndim == 0:
        return _json_number(float(array))
    if array.dtype == np.float32:
        flat = [float(text) for text in array.ravel().astype(str)]
    else:
        flat = array.ravel().tolist()
    if not all(map(math.isfinite, flat)):
        flat = [_json_number(v) for v in flat]
    return _nest(flat, array.shape)


def _nest(flat: list, shape: tuple[int, ...]) -> list:
    if len(shape) <= 1:
        return flat
    size = len(flat) // shape[0] if shape[0] else 0
    return [_nest(flat[i * size:(i + 1) * size], shape[1:]) for i in range(shape[0])]


def _from_json(value: Any, dtype: Any = np.float64) -> np.ndarray:
    def convert(v):
        if isinstance(v, list):
            return [convert(x) for x in v]
        return float(v)  # "nan", "inf" and "-inf" parse back

    return np.array(convert(value), dtype=dtype)


def record_to_json(record: StepRecord) -> dict[str, Any]:
    """One step as a JSON object; arrays a thinned record lacks are left out."""
    tasks = []
    for i in range(record.n_tasks):
        task = {
            "id": int(record.task_ids[i]),
            "loss_before": _json_number(record.loss_before[i]),
            "loss_after": _json_number(record.loss_after[i]),
            "inner_losses": _to_json(record.inner_losses[i]),
            "inner_grad_norms": _to_json(record.inner_grad_norms[i]),
        }
        if record.task_meta_grads is not None:
            task["meta_grad"] = _to_json(record.task_meta_grads[i])
        if record.paths is not None:
            task["path"] = _to_json(record.paths[i])
        tasks.append(task)
    data: dict[str, Any] = {"step": record.step, "algorithm": record.algorithm}
    for key in ("theta", "theta_next", "meta_grad"):
        if getattr(record, key) is not None:
            data[key] = _to_json(getattr(record, key))
    data.update({
        "meta_loss_before": _json_number(record.meta_loss_before),
        "meta_loss_after": _json_number(record.meta_loss_after),
        "tasks": tasks,
        "diagnostics": {k: _to_json(v) for k, v in record.diagnostics.items()},
        "hyper": dict(record.hyper),
        "wall_time": record.wall_time,
        "grad_evals": record.grad_evals,
        "hvp_evals": record.hvp_evals,
        "diverged": record.diverged,
        "reason": record.reason,
    })
    return data


def record_from_json(data: Mapping[str, Any], dtype: Any = np.float64) -> StepRecord:
    tasks = data["tasks"]

    def vector(key: str) -> np.ndarray | None:
        return _from_json(data[key], dtype) if key in data else None

    def per_task(key: str) -> np.ndarray | None:
        if not tasks or key not in tasks[0]:
            return None
        return np.stack([_from_json(t[key], dtype) for t in tasks])

    return make_record(
        step=int(data["step"]),
        algorithm=data["algorithm"],
        theta=vector("theta"),
        theta_next=vector("theta_next"),
        task_ids=[t["id"] for t in tasks],
        paths=per_task("path"),
        task_meta_grads=per_task("meta_grad"),
        meta_grad=vector("meta_grad"),
        loss_before=_from_json([t["loss_before"] for t in tasks], dtype),
        loss_after=_from_json([t["loss_after"] for t in tasks], dtype),
        inner_losses=per_task("inner_losses"),
        inner_grad_norms=per_task("inner_grad_norms"),
        hyper=data.get("hyper", {}),
        wall_time=float(data.get("wall_time", 0.0)),
        grad_evals=int(data.get("grad_evals", 0)),
        hvp_evals=int(data.get("hvp_evals", 0)),
        diagnostics={k: _from_json(v) for k, v in data.get("diagnostics", {}).items()},
        diverged=bool(data.get("diverged", False)),
        reason=data.get("reason"),
    )


# --- NPZ ----------------------------------------------------------------------------------

def _pad_stack(arrays: list[np.ndarray], axis_len: int) -> np.ndarray:
    """Stack arrays whose axis 1 differs (k is hot) by padding that axis with NaN."""
    first = arrays[0]
    shape = (len(arrays), first.shape[0], axis_len, *first.shape[2:])
    out = np.full(shape, np.nan, dtype=np.float64)
    for s, a in enumerate(arrays):
        out[s, :, : a.shape[1]] = a
    return out


def records_to_arrays(records: list[StepRecord]) -> dict[str, np.ndarray]:
    """Columns of a trace: one row per step; ragged inner-loop arrays NaN-padded."""
    if not records:
        return {"step": np.zeros(0, dtype=np.int64)}
    k_max = max(r.inner_steps for r in records)
    arrays = {
        "step": np.array([r.step for r in records], dtype=np.int64),
        "theta": np.stack([r.theta for r in records]),
        "theta_next": np.stack([r.theta_next for r in records]),
        "meta_grad": np.stack([r.meta_grad for r in records]),
        "task_ids": np.stack([r.task_ids for r in records]),
        "task_meta_grads": np.stack([r.task_meta_grads for r in records]),
        "loss_before": np.stack([r.loss_before for r in records]),
        "loss_after": np.stack([r.loss_after for r in records]),
        "inner_steps": np.array([r.inner_steps for r in records], dtype=np.int64),
        "inner_losses": _pad_stack([r.inner_losses for r in records], k_max + 1),
        "inner_grad_norms": _pad_stack([r.inner_grad_norms for r in records], k_max),
        "wall_time": np.array([r.wall_time for r in records]),
        "grad_evals": np.array([r.grad_evals for r in records], dtype=np.int64),
        "hvp_evals": np.array([r.hvp_evals for r in records], dtype=np.int64),
        "diverged": np.array([r.diverged for r in records]),
        "reason": np.array([r.reason or "" for r in records]),
        "algorithm": np.array([r.algorithm for r in records]),
        "hyper": np.array([json.dumps(dict(r.hyper)) for r in records]),
    }
    if all(r.paths is not None for r in records):
        points = max(r.paths.shape[1] for r in records)
        arrays["paths"] = _pad_stack([r.paths for r in records], points)
        arrays["path_points"] = np.array([r.paths.shape[1] for r in records], dtype=np.int64)
    for key in sorted({k for r in records for k in r.diagnostics}):
        values = [r.diagnostics.get(key) for r in records]
        if all(v is not None for v in values):
            if len({v.shape for v in values}) == 1:
                arrays[f"diag_{key}"] = np.stack(values)
            else:  # e.g. CG residuals stop at different iterations
                width = max(v.shape[-1] for v in values)
                padded = np.full((len(values), *values[0].shape[:-1], width), np.nan)
                for s, v in enumerate(values):
                    padded[s, ..., : v.shape[-1]] = v
                arrays[f"diag_{key}"] = padded
    return arrays


def arrays_to_records(arrays: Mapping[str, np.ndarray]) -> list[StepRecord]:
    records = []
    dtype = arrays["theta"].dtype if "theta" in arrays else np.float64
    for s in range(len(arrays["step"])):
        k = int(arrays["inner_steps"][s])
        paths = None
        if "paths" in arrays:
            paths = arrays["paths"][s][:, : int(arrays["path_points"][s])].astype(dtype)
        diagnostics = {}
        for key in arrays:
            if key.startswith("diag_"):
                value = arrays[key][s]
                if np.isnan(value).any() and key == "diag_cg_residuals":
                    value = value[..., : int(np.max(np.sum(~np.isnan(value), axis=-1)))]
                diagnostics[key[5:]] = value
        records.append(make_record(
            step=int(arrays["step"][s]),
            algorithm=str(arrays["algorithm"][s]),
            theta=arrays["theta"][s],
            theta_next=arrays["theta_next"][s],
            task_ids=arrays["task_ids"][s],
            paths=paths,
            task_meta_grads=arrays["task_meta_grads"][s],
            meta_grad=arrays["meta_grad"][s],
            loss_before=arrays["loss_before"][s],
            loss_after=arrays["loss_after"][s],
            inner_losses=arrays["inner_losses"][s][:, : k + 1].astype(dtype),
            inner_grad_norms=arrays["inner_grad_norms"][s][:, :k].astype(dtype),
            hyper=parse_json(str(arrays["hyper"][s]), "hyper"),
            wall_time=float(arrays["wall_time"][s]),
            grad_evals=int(arrays["grad_evals"][s]),
            hvp_evals=int(arrays["hvp_evals"][s]),
            diagnostics=diagnostics,
            diverged=bool(arrays["diverged"][s]),
            reason=str(arrays["reason"][s]) or None,
        ))
    return records


# --- files --------------------------------------------------------------------------------

SCHEDULED = ("theta", "theta_next", "meta_grad", "task_meta_grads", "paths")


@dataclass
class Trace:
    """A loaded trace: the config that produced it and its steps.

    In a thinned trace (see :mod:`maml_gui.core.recording`) the records of steps that were
    not recorded have ``theta``, the meta-gradients and ``paths`` set to None.
    """

    config: dict[str, Any]
    records: list[StepRecord]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def full_records(self) -> list[StepRecord]:
        """The records that hold θ (the recorded steps)."""
        return [r for r in self.records if r.theta is not None]


class _JsonSink:
    """Streams one JSON object per step: one step in memory, whatever the run's length."""

    def __init__(self, temp: Path, header: Mapping[str, Any]):
        self.file = open(temp, "w", encoding="utf-8")
        self.header = header  # written with the first step, once meta["dtype"] is known
        self.count = 0

    def _write_header(self) -> None:
        text = json.dumps(dict(self.header), indent=1)
        # the header without its closing brace; the steps follow as they come
        self.file.write(text[: text.rindex("}")].rstrip() + ',\n "steps": [\n')

    def write(self, record: StepRecord) -> None:
        if not self.count:
            self._write_header()
        self.file.write((",\n" if self.count else "") + json.dumps(record_to_json(record)))
        self.count += 1

    def finish(self, summary: Mapping[str, Any]) -> None:
        if not self.count:
            self._write_header()
        self.file.write('\n ],\n "summary": ' + json.dumps(dict(summary)) + "\n}\n")
        self.file.close()

    def discard(self) -> None:
        if not self.file.closed:
            self.file.close()


class _NpzSink:
    """Columns spooled to disk step by step (:class:`~maml_gui.core.npz_stream.SpooledNpz`),
    written as one ``.npz`` at the end. Layout (``version`` 2):

    - every step: ``step``, ``task_ids``, ``loss_before``, ``loss_after``, ``inner_steps``,
      ``inner_losses`` and ``inner_grad_norms`` (NaN-padded to the largest k), ``wall_time``,
      ``grad_evals``, ``hvp_evals``, ``diverged``;
    - ``theta``, ``theta_next``, ``meta_grad``, ``task_meta_grads``, ``paths`` (+
      ``path_points``) and each diagnostic ``diag_<name>``: only on the steps listed in the
      companion array ``<name>_steps``;
    - ``algorithm`` and ``hyper`` (JSON) where they changed, at ``changes_steps``; ``reason``
      at ``reason_steps``; ``config``, ``meta``, ``summary`` (JSON), ``format``, ``version``.
    """

    def __init__(self, temp: Path, header: Mapping[str, Any]):
        from maml_gui.core.npz_stream import SpooledNpz

        self.temp = temp
        self.header = dict(header)
        self.spool = SpooledNpz(temp.with_name(temp.name + ".d"))
        self.changes: list[tuple[int, str, str]] = []
        self.reasons: list[tuple[int, str]] = []
        self.count = 0

    @staticmethod
    def rows(record: StepRecord) -> Iterator[tuple[str, Any]]:
        """The (column, row) pairs one step adds."""
        yield "step", np.int64(record.step)
        for key in ("task_ids", "loss_before", "loss_after", "inner_losses", "inner_grad_norms"):
            yield key, getattr(record, key)
        yield "inner_steps", np.int64(record.inner_steps)
        yield "wall_time", np.float64(record.wall_time)
        yield "grad_evals", np.int64(record.grad_evals)
        yield "hvp_evals", np.int64(record.hvp_evals)
        yield "diverged", np.bool_(record.diverged)
        optional = {key: getattr(record, key) for key in SCHEDULED}
        optional.update({f"diag_{k}": v for k, v in record.diagnostics.items()})
        for key, value in optional.items():
            if value is not None:
                yield key, value
                yield f"{key}_steps", np.int64(record.step)
                if key == "paths":
                    yield "path_points", np.int64(value.shape[1])

    def write(self, record: StepRecord) -> None:
        for name, row in self.rows(record):
            self.spool.append(name, row)
        hyper = json.dumps(dict(record.hyper))
        if not self.changes or self.changes[-1][1:] != (record.algorithm, hyper):
            self.changes.append((record.step, record.algorithm, hyper))
        if record.reason:
            self.reasons.append((record.step, record.reason))
        self.count += 1

    def finish(self, summary: Mapping[str, Any]) -> None:
        small = {
            "changes_steps": np.array([c[0] for c in self.changes], dtype=np.int64),
            "algorithm": np.array([c[1] for c in self.changes]),
            "hyper": np.array([c[2] for c in self.changes]),
            "reason_steps": np.array([r[0] for r in self.reasons], dtype=np.int64),
            "reason": np.array([r[1] for r in self.reasons], dtype=str),
            "config": np.array(json.dumps(self.header["config"])),
            "meta": np.array(json.dumps(self.header["meta"])),
            "summary": np.array(json.dumps(dict(summary))),
            "format": np.array(TRACE_FORMAT),
            "version": np.array(TRACE_VERSION),
        }
        if not self.spool.rows("step"):
            small["step"] = np.zeros(0, dtype=np.int64)
        try:
            with open(self.temp, "wb") as handle:
                self.spool.write(handle, small)
        finally:
            self.spool.discard()

    def discard(self) -> None:
        self.spool.discard()


def record_bytes(record: StepRecord, suffix: str) -> int:
    """Bytes ``record`` adds to a trace file of type ``suffix`` (``.json`` or ``.npz``)."""
    if suffix.lower() == ".json":
        return len(json.dumps(record_to_json(record)).encode("utf-8")) + 2
    return sum(np.asarray(row).nbytes for _, row in _NpzSink.rows(record))


def header_bytes(header: Mapping[str, Any], suffix: str, sample: StepRecord) -> int:
    """Bytes of a trace file besides its steps: the header, and for NPZ the zip entry and
    ``.npy`` header of each member (~250 bytes) and the JSON strings, stored as UTF-32."""
    if suffix.lower() == ".json":
        return len(json.dumps(dict(header), indent=1).encode("utf-8")) + 100
    members = len({name for name, _ in _NpzSink.rows(sample)}) + 10
    text = len(json.dumps(dict(header))) + len(json.dumps(dict(sample.hyper))) + 100
    return 4 * text + 250 * members


class TraceWriter:
    """Write a trace to ``.json`` or ``.npz`` step by step, with bounded memory, atomically.

    Use as a context manager: the file appears under its name only when the block ends
    without an exception (:meth:`close` also ends it early and keeps what was written, as a
    run stopped by a signal does). ``recording`` (a
    :class:`~maml_gui.core.recording.Recording`) thins the big arrays; without it every
    step keeps everything, with ``paths`` inner-loop points. The last step is always stored
    in full, so the final θ is in every trace.
    """

    def __init__(self, path: str | Path, config: Mapping[str, Any], *,
                 paths: str = "full", recording: Any = None,
                 meta: Mapping[str, Any] | None = None):
        from maml_gui.core.recording import Recording  # recording imports this module

        self.path = Path(path)
        self.suffix = self.path.suffix.lower()
        if self.suffix not in (".json", ".npz"):
            raise ValueError(f"unknown trace format {self.path.suffix!r}: use .json or .npz")
        self.config = dict(config)
        self.recording = recording or Recording(paths=paths)
        self.meta = {**dict(meta or {}), "recording": self.recording.to_meta()}
        self._pending: StepRecord | None = None
        self._sink: _JsonSink | _NpzSink | None = None
        self._atomic = AtomicPath(self.path)  # checks the folder before any work is done
        self.first_step: int | None = None
        self.last_step: int | None = None
        self._written = 0

    def __enter__(self) -> "TraceWriter":
        header = {"format": TRACE_FORMAT, "version": TRACE_VERSION,
                  "config": self.config, "meta": self.meta}  # meta gains dtype at step 0
        try:
            self._sink = (_JsonSink if self.suffix == ".json" else _NpzSink)(
                self._atomic.temp, header)
        except BaseException:
            self._atomic.discard()
            raise
        return self

    def append(self, record: StepRecord) -> None:
        # One step behind: a step is thinned only once we know it is not the last one.
        if self._pending is not None:
            self._sink.write(self.recording.thin(self._pending, last=False))
        else:
            self.first_step = record.step
            # JSON readers need it: a float32 is written as its shortest decimal
            self.meta.setdefault("dtype", str(record.loss_before.dtype))
        self._pending = record
        self.last_step = record.step

    @property
    def count(self) -> int:
        """Steps written so far (all of them once the writer is closed)."""
        return (self._sink.count if self._sink else self._written) + (
            self._pending is not None and self._sink is not None)

    def close(self, **summary: Any) -> None:
        """Write the last step and the file's end, and move it to its name."""
        if self._sink is None:
            return
        sink, self._sink = self._sink, None
        try:
            if self._pending is not None:
                sink.write(self.recording.thin(self._pending, last=True))
            self._written = sink.count
            sink.finish({"steps": sink.count, "first_step": self.first_step,
                         "last_step": self.last_step, **summary})
            self._atomic.commit()
        except BaseException:
            sink.discard()
            self._atomic.discard()
            raise

    def discard(self) -> None:
        if self._sink is not None:
            self._sink.discard()
            self._sink = None
        self._atomic.discard()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.discard()
        else:
            self.close()


def save_trace(path: str | Path, config: Mapping[str, Any], records: Iterable[StepRecord], *,
               paths: str = "full", meta: Mapping[str, Any] | None = None) -> None:
    """Write ``records`` (any iterable: one step is held at a time), every array every step."""
    with TraceWriter(path, config, paths=paths, meta=meta) as writer:
        for record in records:
            writer.append(record)


class TraceFormatError(ValueError):
    """A file is not a maml-gui trace (or is damaged)."""


def _float_dtype(meta: Mapping[str, Any]) -> Any:
    return np.float32 if meta.get("dtype") == "float32" else np.float64


def _records_from_columns(arrays: Mapping[str, np.ndarray]) -> list[StepRecord]:
    """Records of a version-2 NPZ (the layout :class:`_NpzSink` documents)."""
    steps = arrays["step"]
    where = {key: {int(s): row for row, s in enumerate(arrays[f"{key}_steps"])}
             for key in arrays if f"{key}_steps" in arrays}
    change_rows = np.searchsorted(arrays["changes_steps"], steps, side="right") - 1
    reasons = dict(zip(arrays["reason_steps"].tolist(), arrays["reason"].tolist()))
    records = []
    for s, step in enumerate(steps.tolist()):
        k = int(arrays["inner_steps"][s])

        def scheduled(key: str) -> np.ndarray | None:
            row = where.get(key, {}).get(step)
            return None if row is None else arrays[key][row]

        paths = scheduled("paths")
        if paths is not None:
            paths = paths[:, : int(arrays["path_points"][where["paths"][step]])]
        diagnostics = {}
        for key in arrays:
            if key.startswith("diag_") and not key.endswith("_steps"):
                value = scheduled(key)
                if value is not None:
                    diagnostics[key[5:]] = _trim_nan(value)
        change = int(change_rows[s])
        records.append(make_record(
            step=step, algorithm=str(arrays["algorithm"][change]),
            theta=scheduled("theta"), theta_next=scheduled("theta_next"),
            task_ids=arrays["task_ids"][s], paths=paths,
            task_meta_grads=scheduled("task_meta_grads"), meta_grad=scheduled("meta_grad"),
            loss_before=arrays["loss_before"][s], loss_after=arrays["loss_after"][s],
            inner_losses=arrays["inner_losses"][s][:, : k + 1],
            inner_grad_norms=arrays["inner_grad_norms"][s][:, :k],
            hyper=json.loads(str(arrays["hyper"][change])),
            wall_time=float(arrays["wall_time"][s]), grad_evals=int(arrays["grad_evals"][s]),
            hvp_evals=int(arrays["hvp_evals"][s]), diagnostics=diagnostics,
            diverged=bool(arrays["diverged"][s]), reason=reasons.get(step),
        ))
    return records


def _trim_nan(value: np.ndarray) -> np.ndarray:
    """Drop trailing all-NaN columns of the last axis (padding of ragged diagnostics)."""
    if value.dtype.kind != "f" or value.ndim == 0 or not np.isnan(value).any():
        return value
    filled = ~np.isnan(value.reshape(-1, value.shape[-1])).all(axis=0)
    width = int(np.nonzero(filled)[0][-1]) + 1 if filled.any() else 0
    return value[..., :width]


def load_trace(path: str | Path) -> Trace:
    """Read a trace (``.json`` or ``.npz``, thinned or not, any version so far)."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".npz":
            arrays = load_npz(path, what="trace")
            if scalar_text(arrays, "format", str(path)) != TRACE_FORMAT:
                raise TraceFormatError(f"{path} is not a maml-gui trace")
            config = parse_json(scalar_text(arrays, "config", str(path)) or "null", "its config")
            meta = parse_json(scalar_text(arrays, "meta", str(path)) or "{}", "its meta")
            arrays = {k: v for k, v in arrays.items() if k not in ("config", "meta")}
            version2 = int(arrays.get("version", 1)) >= 2  # streamed, thinned columns
            trace = Trace(config, _records_from_columns(arrays) if version2 else
                          arrays_to_records(arrays), meta)
        else:
            data = read_json(path, limit=MAX_TRACE_JSON_BYTES, what="trace")
            if not isinstance(data, dict) or data.get("format") != TRACE_FORMAT:
                raise TraceFormatError(f"{path} is not a maml-gui trace")
            meta = data.get("meta", {})
            dtype = _float_dtype(meta) if isinstance(meta, dict) else np.float64
            trace = Trace(data["config"], [record_from_json(s, dtype) for s in data["steps"]],
                          meta)
        if not isinstance(trace.config, dict) or not isinstance(trace.meta, dict):
            raise TraceFormatError(f"{path}: its config and meta must be JSON objects")
        return trace
    except TraceFormatError:
        raise
    except InputFileError as exc:
        raise TraceFormatError(str(exc)) from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise TraceFormatError(f"cannot read trace {path}: {_one_line(exc)}") from None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def read_trace_header(path: str | Path, limit: int = 64 << 20) -> dict[str, Any]:
    """The ``format``, ``version``, ``config`` and ``meta`` of a JSON trace without reading its
    steps (they follow the header, so a multi-GB trace costs the header's size)."""
    marker = '\n "steps": ['
    text = ""
    with open(path, encoding="utf-8") as handle:
        while len(text) < limit:
            chunk = handle.read(1 << 16)
            if not chunk:
                break
            text += chunk
            cut = text.find(marker)
            if cut >= 0:
                return json.loads(text[:cut].rstrip().rstrip(",") + "}")
    return json.loads(text)


def read_trace_config(path: str | Path) -> dict[str, Any]:
    """The config embedded in a trace, without reading its steps."""
    path = Path(path)
    if path.suffix.lower() == ".npz":
        with np.load(path, allow_pickle=False) as data:
            return json.loads(str(data["config"]))
    return read_trace_header(path)["config"]


def final_theta(path: str | Path) -> tuple[int, np.ndarray]:
    """``(steps done, θ after the last step)`` of a trace (the last step is always stored in
    full); an NPZ reads only the ``theta_next`` columns."""
    path = Path(path)
    if path.suffix.lower() == ".npz":
        with np.load(path, allow_pickle=False) as data:
            steps = data["theta_next_steps"] if "theta_next_steps" in data.files else data["step"]
            return int(steps[-1]) + 1, data["theta_next"][-1]
    last = load_trace(path).full_records[-1]
    return last.step + 1, last.theta_next


def iter_points(records: Iterable[StepRecord]) -> Iterator[np.ndarray]:
    """Every θ and inner-loop point of the records (for projections)."""
    for record in records:
        if record.theta is not None:  # not thinned away
            yield record.theta[None]
        if record.paths is not None:
            yield record.paths.reshape(-1, record.paths.shape[-1])
