"""``maml-gui run``: meta-training without a display."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from maml_gui.cli import EXIT_FAILED, EXIT_OK, Progress, UsageError, load_config_from_args


def add_parser(sub, add_config_arguments) -> None:
    run = sub.add_parser("run", help="meta-train without a display and write a trace")
    add_config_arguments(run)
    run.add_argument("--out", required=True, metavar="TRACE.{json,npz}", help="trace file")
    run.add_argument("--paths", choices=("full", "endpoints", "none"),
                     help="inner-loop points stored per step (overrides record_paths)")
    run.add_argument("--quiet", action="store_true", help="no progress on stderr")
    run.set_defaults(handler=command_run)


def command_run(args: argparse.Namespace) -> int:
    """``maml-gui run``: meta-train headless, stream the trace to --out."""
    import torch

    from maml_gui.core.budget import check_budget, check_disk, trace_term, training_terms
    from maml_gui.core.config import config_json
    from maml_gui.core.tasks import make_family
    from maml_gui.core.trace import TraceWriter
    from maml_gui.core.training import train
    from maml_gui.output_paths import check_output

    torch.set_num_threads(1)
    config = load_config_from_args(args)
    out = Path(args.out)
    if out.suffix.lower() not in (".json", ".npz"):
        raise UsageError(f"--out {out}: unknown trace format {out.suffix or '(none)'!r}; use .json or .npz")
    check_output(out, [("--config", args.config)], force=args.force)
    stored = config.with_changes({"record_paths": args.paths}) if args.paths else config
    check_budget(training_terms(stored) + [trace_term(stored, out.suffix.lower()[1:], config.steps)])
    check_disk(stored, out, config.steps)
    family = make_family(config)
    meta = {"param_dim": family.param_dim, "axis_names": list(family.axis_names or ()),
            "blocks": family.blocks()}
    progress = Progress(config.steps, enabled=not args.quiet)
    last = warning = None
    with TraceWriter(out, config_json(config), paths=args.paths or config.record_paths,
                     meta=meta) as writer:
        for done, record in enumerate(train(config, config.steps), start=1):
            writer.append(record)
            last = record
            warning = warning or _curvature_warning(record)
            progress.update(done, f"meta-loss {record.meta_loss_before:.4g} → "
                                  f"{record.meta_loss_after:.4g} (after adaptation)")
    progress.update(config.steps if last is None else last.step + 1, force=True)
    progress.finish()
    if warning:
        print(f"maml-gui: warning: {warning}", file=sys.stderr)
    if last is not None and last.diverged:
        print(f"maml-gui: run diverged at step {last.step}: {last.reason} "
              f"(trace written to {out})", file=sys.stderr)
        return EXIT_FAILED
    if not args.quiet:
        print(f"wrote {out}", file=sys.stderr)
    return EXIT_OK


def _curvature_warning(record) -> str | None:
    """The first step whose CG met pᵀMp ≤ 0, in words (said once, after the progress line)."""
    from maml_gui.core.algorithms.imaml import curvature_warning

    text = curvature_warning(record.diagnostics, record.hyper)
    return None if text is None else f"from step {record.step}, {text}"
