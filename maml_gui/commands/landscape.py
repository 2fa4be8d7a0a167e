"""``maml-gui landscape``: one surface on a grid, written as NPZ, without a display."""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch

from maml_gui.cli_common import EXIT_OK, UsageError, load_config_from_args
from maml_gui.core.budget import check_budget, landscape_term
from maml_gui.core.config import config_json
from maml_gui.core.io import AtomicPath
from maml_gui.core.landscape import (
    LandscapeEvaluator, Plane, axes_plane, landscape_tasks, pca_plane,
    random_plane,
)
from maml_gui.core.tasks import make_family
from maml_gui.core.trace import iter_points, load_trace
from maml_gui.core.training import MetaTrainer, resolve_dtype
from maml_gui.output_paths import check_output
from maml_gui.signals import interrupt_on_signals


MAX_PLANE_SEED = 2**32 - 1  # what numpy's and torch's generators accept


def add_parser(sub, add_config_arguments) -> None:
    parser = sub.add_parser("landscape", help="compute a loss surface on a grid and write NPZ")
    add_config_arguments(parser)
    parser.add_argument("--surface", default="meta",
                        help="meta | mean | task:I | imaml:I (default meta)")
    parser.add_argument("--grid", type=int, default=128, metavar="N", help="N×N points (2 … 2048)")
    parser.add_argument("--range", type=float, nargs=4, metavar=("XMIN", "XMAX", "YMIN", "YMAX"),
                        help="rectangle of the plane (default: the family's view, or the path's extent)")
    parser.add_argument("--theta", type=float, nargs="+", metavar="V",
                        help="θ: the anchor of imaml:I and the centre of a plane (default θ₀)")
    parser.add_argument("--plane", choices=("pca", "random", "axes"),
                        help="for models with more than 2 parameters: how to choose the plane")
    parser.add_argument("--trace", metavar="TRACE", help="a trace whose path the PCA plane fits "
                        "and onto which the path is projected")
    parser.add_argument("--plane-seed", type=int, default=0, help="seed of random directions")
    parser.add_argument("--out", required=True, metavar="GRID.npz")
    parser.set_defaults(handler=command_landscape)


def _plane(args, family, centre: np.ndarray, points: np.ndarray | None) -> Plane | None:
    if args.plane is None:
        if family.param_dim != 2:
            raise UsageError(f"the {family.name} family has {family.param_dim} parameters: "
                             "choose --plane pca|random|axes")
        return None
    if args.plane == "pca":
        if points is None:
            raise UsageError("--plane pca needs --trace (the path the plane is fitted to)")
        return pca_plane(points, centre)
    if args.plane == "random":
        return random_plane(family, centre, args.plane_seed)
    return axes_plane(centre)


def command_landscape(args: argparse.Namespace) -> int:
    if not 0 <= args.plane_seed <= MAX_PLANE_SEED:
        raise UsageError(f"--plane-seed {args.plane_seed} is out of range: use 0 … {MAX_PLANE_SEED}")
    if not str(args.out).lower().endswith(".npz"):
        raise UsageError(f"--out {args.out}: the landscape is written as .npz")
    check_output(args.out, [("--config", args.config), ("--trace", args.trace)], force=args.force)
    if args.range is not None:
        from maml_gui.runtime.session_file import check_view_range

        check_view_range(args.range, "--range")  # SessionError: exit 2
    torch.set_num_threads(1)
    with interrupt_on_signals():
        return _landscape(args)


def _landscape(args: argparse.Namespace) -> int:
    config = load_config_from_args(args)
    family = make_family(config)
    check_budget([landscape_term(config, args.grid, plane=family.param_dim != 2)])
    trace = load_trace(args.trace) if args.trace else None
    path_points = None
    if trace is not None and not trace.records:
        raise UsageError(f"--trace {args.trace} has no meta-steps (it was written by a run of "
                         "0 steps): there is no path to fit or draw")
    if trace is not None:
        path_points = np.concatenate(list(iter_points(trace.records)))
        if path_points.shape[-1] != family.param_dim:
            raise UsageError(f"--trace {args.trace} has {path_points.shape[-1]} parameters, "
                             f"this config {family.param_dim}")
    if args.theta is not None:
        centre = np.asarray(args.theta, dtype=np.float64)
        if centre.size != family.param_dim:
            raise UsageError(f"--theta needs {family.param_dim} numbers, got {centre.size}")
    elif trace is not None and trace.records:
        centre = trace.records[-1].theta_next.astype(np.float64)
    else:
        centre = MetaTrainer(config).theta.double().cpu().numpy()
    plane = _plane(args, family, centre, path_points)

    dtype = resolve_dtype(config)
    evaluator = LandscapeEvaluator(config, landscape_tasks(config), dtype=dtype)
    evaluator.check(args.surface)
    path_uv = path_distance = None
    if path_points is not None:
        recorded = trace.full_records  # a thinned trace holds θ on its recorded steps only
        thetas = np.stack([r.theta for r in recorded] + [recorded[-1].theta_next])
        if plane is None:
            path_uv, path_distance = thetas, np.zeros(len(thetas))
        else:
            path_uv, path_distance = plane.project(thetas)
    if args.range is not None:
        xmin, xmax, ymin, ymax = args.range
    elif plane is None:
        xmin, xmax, ymin, ymax = family.default_view(evaluator.tasks)
    else:
        xmin, xmax, ymin, ymax = _extent(path_uv)
    surface = evaluator.grid(args.surface, (xmin, xmax), (ymin, ymax), args.grid, plane=plane,
                             anchor=centre)
    arrays = {"x": surface.x, "y": surface.y, "z": surface.z,
              "surface": np.array(surface.name), "label": np.array(surface.label),
              "config": np.array(json.dumps(config_json(config)))}
    if plane is not None:
        arrays.update(plane_centre=plane.centre, plane_directions=plane.directions,
                      plane=np.array(json.dumps({k: v for k, v in plane.to_dict().items()
                                                 if k not in ("centre", "directions")})))
    if path_uv is not None:
        arrays.update(path_uv=path_uv, path_distance=path_distance)
    with AtomicPath(args.out) as temp:
        with open(temp, "wb") as handle:
            np.savez_compressed(handle, **arrays)
    print(f"wrote {args.out}: {surface.label}, z in [{np.nanmin(surface.z):.4g}, "
          f"{np.nanmax(surface.z):.4g}]", file=sys.stderr)
    return EXIT_OK


def _extent(uv: np.ndarray | None) -> tuple[float, float, float, float]:
    if uv is None:
        return (-1.0, 1.0, -1.0, 1.0)
    low, high = uv.min(axis=0), uv.max(axis=0)
    margin = np.maximum(0.25 * (high - low), 0.1)
    return (float(low[0] - margin[0]), float(high[0] + margin[0]),
            float(low[1] - margin[1]), float(high[1] + margin[1]))

