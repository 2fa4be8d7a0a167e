"""``maml-gui run``: meta-training without a display.

The trace is streamed (bounded memory for any number of steps) and thinned for big models
(:mod:`maml_gui.core.recording`); its size is estimated before the run starts. Checkpoints
(``--checkpoint-every``) and SIGINT/SIGTERM (the trace is closed up to the last complete
step and a checkpoint written) let a run continue with ``--resume``, bit-identically.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from maml_gui.cli_common import EXIT_FAILED, EXIT_OK, Progress, UsageError, load_config_from_args

#: estimated traces above this size need --yes
SIZE_LIMIT = 2_000_000_000


def add_parser(sub, add_config_arguments) -> None:
    run = sub.add_parser("run", help="meta-train without a display and write a trace")
    add_config_arguments(run)
    run.add_argument("--out", required=True, metavar="TRACE.{json,npz}", help="trace file")
    run.add_argument("--paths", choices=("auto", "full", "endpoints", "none"),
                     help="inner-loop points stored on recorded steps (sets record_paths)")
    run.add_argument("--every", type=int, metavar="N",
                     help="store θ, meta-gradients and paths every N steps (sets record_every)")
    run.add_argument("--checkpoint-every", type=int, metavar="N",
                     help="write a checkpoint every N steps (and at the end)")
    run.add_argument("--checkpoint", metavar="FILE",
                     help="where checkpoints go (default: the trace's name + .ckpt)")
    run.add_argument("--resume", metavar="CKPT",
                     help="continue the run of this checkpoint (its config; --steps may extend it)")
    run.add_argument("--yes", action="store_true",
                     help=f"write the trace even if it is estimated above {SIZE_LIMIT / 1e9:g} GB")
    run.add_argument("--quiet", action="store_true", help="no progress on stderr")
    run.set_defaults(handler=command_run)


def _human(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(size) < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.3g} {unit}"
        size /= 1000
    return f"{size:.3g} TB"


def _config_and_trainer(args: argparse.Namespace):
    """The run's config and a trainer at its first step (fresh, or from --resume)."""
    from maml_gui.core.checkpoint import CheckpointError, load_checkpoint, resume_trainer
    from maml_gui.core.training import MetaTrainer

    changes = {}
    if args.paths is not None:
        changes["record_paths"] = args.paths
    if args.every is not None:
        changes["record_every"] = args.every
    if args.resume is None:
        config = load_config_from_args(args)
        config = config.with_changes(changes) if changes else config
        return config, MetaTrainer(config), None
    if args.config or args.preset or args.assignments:
        raise UsageError("--resume continues a run with its own config: drop --config, "
                         "--preset and --set (--steps, --every and --paths are allowed)")
    try:
        checkpoint = load_checkpoint(args.resume)
    except CheckpointError as exc:
        raise UsageError(f"--resume: {exc}") from None
    if args.steps is not None:
        changes["steps"] = args.steps
    config = checkpoint.config.with_changes(changes) if changes else checkpoint.config
    if checkpoint.step >= config.steps:
        raise UsageError(f"--resume: the checkpoint is at step {checkpoint.step} of "
                         f"{config.steps}: nothing left to run (raise --steps)")
    return config, resume_trainer(checkpoint, config), checkpoint


def command_run(args: argparse.Namespace) -> int:
    """``maml-gui run``: meta-train headless, stream the trace to --out."""
    import torch

    from maml_gui.core.budget import check_budget, trace_term, training_terms
    from maml_gui.core.checkpoint import save_checkpoint
    from maml_gui.core.config import config_json
    from maml_gui.core.recording import Recording, estimate_trace_bytes
    from maml_gui.core.trace import TraceWriter
    from maml_gui.signals import StopRequest, exit_code, signal_name
    from maml_gui.output_paths import check_output

    torch.set_num_threads(1)
    out = Path(args.out)
    if out.suffix.lower() not in (".json", ".npz"):
        raise UsageError(f"--out {out}: unknown trace format {out.suffix or '(none)'!r}; use .json or .npz")
    for flag in ("every", "checkpoint_every"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            raise UsageError(f"--{flag.replace('_', '-')} must be at least 1")
    check_output(out, [("--config", args.config), ("--resume", args.resume)], force=args.force)
    config, trainer, checkpoint = _config_and_trainer(args)
    # memory of one step; the trace is streamed (its size is checked below, from a real step)
    check_budget(training_terms(config) + [trace_term(config, "json", 1)])
    family = trainer.family
    recording = Recording.from_config(config, family.param_dim)
    first, end = trainer.step_index, config.steps
    meta = {"param_dim": family.param_dim, "axis_names": list(family.axis_names or ()),
            "blocks": family.blocks(), "dtype": str(trainer.dtype).replace("torch.", "")}
    if checkpoint is not None:
        meta["resumed_from"] = {"checkpoint": str(args.resume), "step": first}
    ckpt_path = Path(args.checkpoint) if args.checkpoint else out.with_name(out.name + ".ckpt")
    run_facts = {"trace": str(out), "recording": recording.to_meta()}

    with StopRequest() as stop:
        started = time.perf_counter()
        record = trainer.step() if end > first else None
        if record is not None:
            header = {"config": config_json(config),
                      "meta": {**meta, "recording": recording.to_meta()}}
            estimate = estimate_trace_bytes(record, first, end, recording, out.suffix, header)
            _check_size(args, estimate, end - first, recording, out)
        progress = Progress(end, enabled=not args.quiet, start=first)
        last = warning = None
        with TraceWriter(out, config_json(config), recording=recording, meta=meta) as writer:
            while record is not None:
                writer.append(record)
                last = record
                warning = warning or _curvature_warning(record)
                final = record.diverged or trainer.step_index >= end or stop.signal is not None
                progress.update(record.step + 1, f"meta-loss {record.meta_loss_before:.4g} → "
                                                 f"{record.meta_loss_after:.4g} (after adaptation)",
                                force=final)
                if final:
                    break
                if args.checkpoint_every and trainer.step_index % args.checkpoint_every == 0:
                    save_checkpoint(ckpt_path, trainer, run_facts)
                record = trainer.step()
            stopped = stop.signal
            writer.close(interrupted=signal_name(stopped) if stopped else None)
        elapsed = time.perf_counter() - started
        progress.finish()
        if warning:
            print(f"maml-gui: warning: {warning}", file=sys.stderr)
        if stopped is not None or args.checkpoint_every:
            save_checkpoint(ckpt_path, trainer, run_facts)

    if stopped is not None:
        done = "no step" if last is None else f"steps {writer.first_step}–{last.step}"
        print(f"maml-gui: stopped by {signal_name(stopped)} after step "
              f"{trainer.step_index} of {end}; {out} holds {done}. Continue with: "
              f"maml-gui run --resume {ckpt_path} --out {_next_name(out, trainer.step_index)}",
              file=sys.stderr)
        return exit_code(stopped)
    if last is not None and last.diverged:
        print(f"maml-gui: run diverged at step {last.step}: {last.reason} "
              f"(trace written to {out})", file=sys.stderr)
        return EXIT_FAILED
    if not args.quiet:
        steps = writer.count
        size = out.stat().st_size
        print(f"wrote {out}: {steps} steps in {elapsed:.1f} s ({steps / max(elapsed, 1e-9):.1f} "
              f"steps/s), {_human(size)} ({_human(size / max(steps, 1))}/step)", file=sys.stderr)
    return EXIT_OK


def _next_name(out: Path, step: int) -> Path:
    return out.with_name(f"{out.stem}-from-{step}{out.suffix}")


def _check_size(args, estimate: int, steps: int, recording, out: Path) -> None:
    """Say the estimated size; refuse above :data:`SIZE_LIMIT` without --yes."""
    line = (f"estimated trace size: {_human(estimate)} ({_human(estimate / steps)}/step over "
            f"{steps} steps; θ and meta-gradients every {recording.every} steps, task "
            f"gradients {'on' if recording.task_grads else 'off'}, paths {recording.paths})")
    shrink = [f"--every {max(recording.every * 10, 10)}"]
    if recording.paths != "none":
        shrink.append("--paths none")
    if recording.task_grads:
        shrink.append("--set record_task_grads=off")
    if out.suffix.lower() == ".json":
        shrink.append(f"--out {out.with_suffix('.npz')} (NPZ is ~3× smaller)")
    advice = f"Shrink it with {', '.join(shrink)} or fewer --steps"
    if estimate > SIZE_LIMIT and not args.yes:
        raise UsageError(f"{line}: above {_human(SIZE_LIMIT)}. {advice}, or pass --yes to "
                         "write it anyway")
    try:
        free = shutil.disk_usage(out.resolve().parent).free
    except OSError:
        free = None
    if free is not None and estimate > free:
        raise UsageError(f"{line}: more than the {_human(free)} free beside {out}. {advice}")
    if not args.quiet:
        print(line, file=sys.stderr)


def _curvature_warning(record) -> str | None:
    """The first step whose CG met pᵀMp ≤ 0, in words (said once, after the progress line)."""
    from maml_gui.core.algorithms.imaml import curvature_warning

    text = curvature_warning(record.diagnostics, record.hyper)
    return None if text is None else f"from step {record.step}, {text}"
