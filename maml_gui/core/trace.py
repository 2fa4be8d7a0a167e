"""Step records (numpy only, read-only once made) and trace files in JSON and NPZ.

JSON traces are streamed step by step, so a long headless run holds one step in memory;
every file is written to a temporary name and renamed at the end (no half-written files).
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
TRACE_VERSION = 1


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
    theta: np.ndarray  # (P,)
    theta_next: np.ndarray  # (P,)
    task_ids: np.ndarray  # (n,) pool index, -1 for fresh tasks
    paths: np.ndarray | None  # (n, k+1, P), or fewer points when thinned
    task_meta_grads: np.ndarray  # (n, P)
    meta_grad: np.ndarray  # (P,)
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
    if array.ndim == 0:
        return _json_number(float(array))
    return [_to_json(a) for a in array] if array.ndim > 1 else [_json_number(v) for v in array.tolist()]


def _from_json(value: Any, dtype: Any = np.float64) -> np.ndarray:
    def convert(v):
        if isinstance(v, list):
            return [convert(x) for x in v]
        return float(v)  # "nan", "inf" and "-inf" parse back

    return np.array(convert(value), dtype=dtype)


def record_to_json(record: StepRecord) -> dict[str, Any]:
    tasks = []
    for i in range(record.n_tasks):
        task = {
            "id": int(record.task_ids[i]),
            "meta_grad": _to_json(record.task_meta_grads[i]),
            "loss_before": _json_number(record.loss_before[i]),
            "loss_after": _json_number(record.loss_after[i]),
            "inner_losses": _to_json(record.inner_losses[i]),
            "inner_grad_norms": _to_json(record.inner_grad_norms[i]),
        }
        if record.paths is not None:
            task["path"] = _to_json(record.paths[i])
        tasks.append(task)
    return {
        "step": record.step,
        "algorithm": record.algorithm,
        "theta": _to_json(record.theta),
        "theta_next": _to_json(record.theta_next),
        "meta_grad": _to_json(record.meta_grad),
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
    }


def record_from_json(data: Mapping[str, Any]) -> StepRecord:
    tasks = data["tasks"]
    has_paths = bool(tasks) and "path" in tasks[0]
    return make_record(
        step=int(data["step"]),
        algorithm=data["algorithm"],
        theta=_from_json(data["theta"]),
        theta_next=_from_json(data["theta_next"]),
        task_ids=[t["id"] for t in tasks],
        paths=np.stack([_from_json(t["path"]) for t in tasks]) if has_paths else None,
        task_meta_grads=np.stack([_from_json(t["meta_grad"]) for t in tasks]),
        meta_grad=_from_json(data["meta_grad"]),
        loss_before=_from_json([t["loss_before"] for t in tasks]),
        loss_after=_from_json([t["loss_after"] for t in tasks]),
        inner_losses=np.stack([_from_json(t["inner_losses"]) for t in tasks]),
        inner_grad_norms=np.stack([_from_json(t["inner_grad_norms"]) for t in tasks]),
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

@dataclass
class Trace:
    """A loaded trace: the config that produced it and its steps."""

    config: dict[str, Any]
    records: list[StepRecord]
    meta: dict[str, Any] = field(default_factory=dict)


class TraceWriter:
    """Write a trace to ``.json`` (streamed) or ``.npz`` (columns at the end), atomically.

    Use as a context manager: the file appears under its name only when the block ends
    without an exception.
    """

    def __init__(self, path: str | Path, config: Mapping[str, Any], *,
                 paths: str = "full", meta: Mapping[str, Any] | None = None):
        self.path = Path(path)
        self.suffix = self.path.suffix.lower()
        if self.suffix not in (".json", ".npz"):
            raise ValueError(f"unknown trace format {self.path.suffix!r}: use .json or .npz")
        self.config = dict(config)
        self.paths = paths
        self.meta = dict(meta or {})
        self._records: list[StepRecord] = []
        self._count = 0
        self._file = None
        self._atomic = AtomicPath(self.path)  # checks the folder before any work is done

    def __enter__(self) -> "TraceWriter":
        if self.suffix == ".json":
            try:
                self._file = open(self._atomic.temp, "w", encoding="utf-8")
                header = {"format": TRACE_FORMAT, "version": TRACE_VERSION,
                          "config": self.config, "meta": self.meta}
                text = json.dumps(header, indent=1)
                # the header without its closing brace; the steps follow as they come
                self._file.write(text[: text.rindex("}")].rstrip() + ',\n "steps": [\n')
            except BaseException:
                self._close_file()
                self._atomic.discard()
                raise
        return self

    def append(self, record: StepRecord) -> None:
        record = record.with_paths(self.paths)
        if self._file is not None:
            if self._count:
                self._file.write(",\n")
            self._file.write(json.dumps(record_to_json(record)))
        else:
            self._records.append(record)
        self._count += 1

    def _finish(self) -> None:
        if self._file is not None:
            self._file.write("\n ]\n}\n")
            self._close_file()
            return
        arrays = records_to_arrays(self._records)
        arrays["config"] = np.array(json.dumps(self.config))
        arrays["meta"] = np.array(json.dumps(self.meta))
        arrays["format"] = np.array(TRACE_FORMAT)
        with open(self._atomic.temp, "wb") as handle:
            np.savez_compressed(handle, **arrays)

    def _close_file(self) -> None:
        if self._file is not None and not self._file.closed:
            self._file.close()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._close_file()
            self._atomic.discard()
            return
        try:
            self._finish()
            self._atomic.commit()
        except BaseException:
            self._close_file()
            self._atomic.discard()
            raise


def save_trace(path: str | Path, config: Mapping[str, Any], records: Iterable[StepRecord], *,
               paths: str = "full", meta: Mapping[str, Any] | None = None) -> None:
    with TraceWriter(path, config, paths=paths, meta=meta) as writer:
        for record in records:
            writer.append(record)


class TraceFormatError(ValueError):
    """A file is not a maml-gui trace (or is damaged)."""


def load_trace(path: str | Path) -> Trace:
    path = Path(path)
    try:
        if path.suffix.lower() == ".npz":
            arrays = load_npz(path, what="trace")
            if scalar_text(arrays, "format", str(path)) != TRACE_FORMAT:
                raise TraceFormatError(f"{path} is not a maml-gui trace")
            config = parse_json(scalar_text(arrays, "config", str(path)) or "null", "its config")
            meta = parse_json(scalar_text(arrays, "meta", str(path)) or "{}", "its meta")
            arrays = {k: v for k, v in arrays.items() if k not in ("config", "meta")}
            trace = Trace(config, arrays_to_records(arrays), meta)
        else:
            data = read_json(path, limit=MAX_TRACE_JSON_BYTES, what="trace")
            if not isinstance(data, dict) or data.get("format") != TRACE_FORMAT:
                raise TraceFormatError(f"{path} is not a maml-gui trace")
            trace = Trace(data["config"], [record_from_json(s) for s in data["steps"]],
                          data.get("meta", {}))
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


def iter_points(records: Iterable[StepRecord]) -> Iterator[np.ndarray]:
    """Every θ and inner-loop point of the records (for projections)."""
    for record in records:
        yield record.theta[None]
        if record.paths is not None:
            yield record.paths.reshape(-1, record.paths.shape[-1])
