"""The trainer's command line (``python -m lvae.train`` runs ``lvae/train/__main__.py``).

The help lists names from the registries (objectives, architectures, datasets, metrics,
likelihoods, precisions, compile modes), so registering an objective or an architecture
puts it in ``--help`` with no edit here; ``--help``'s epilog lists every objective's
parameters with their defaults. Bad input is reported by :mod:`lvae.cli` (one line, exit
code 2).

    python -m lvae.train --objective beta_tcvae --param beta=6 --dataset dsprites_procedural --out
    runs/a
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
from pathlib import Path
from typing import Any

from lvae import train as trainer  # attribute access at call time: tests patch trainer.train
from lvae.checkpoint import CHECKPOINT_NAME
from lvae.config import COMPILE_MODES, PRECISIONS, TrainConfig
from lvae.contract import (
    BETA_TAG,
    CONFIG_FILE,
    KL_TAG,
    RECON_TAG,
    RESULT_FILE,
    STEPS_PER_S_TAG,
    TB_DIR,
    TOTAL_TAG,
)
from lvae.device import DEVICE_TYPES


def _names(names: Any) -> str:
    return " | ".join(sorted(names))


def _parse_value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r} "
                                         f"({exc.msg})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def registry_helps() -> dict[str, str]:
    """Help of the fields whose valid values live in a registry, read from the registry."""
    from lvae.data import dataset_names
    from lvae.metrics import metric_names
    from lvae.models import MODELS
    from lvae.objectives import OBJECTIVES
    from lvae.objectives.likelihood import LIKELIHOODS

    metrics = ",".join(metric_names())
    return {
        "dataset": f"dataset name: {_names(dataset_names())}",
        "architecture": _names(MODELS),
        "objective": f"{_names(OBJECTIVES)} (parameters: --param; docs/objectives.md)",
        "likelihood": f"override the dataset's likelihood: {_names(LIKELIHOODS)}",
        "device": f"auto | {' | '.join(DEVICE_TYPES)} | cuda:N",
        "evaluate": f"comma-separated metrics to compute at the end ({metrics})",
        "track_metrics": f"comma-separated metrics computed every --eval-every steps ({metrics}; "
        f"default: {','.join(TrainConfig().track_metrics)}, with a fast DCI probe)",
        "precision": f"{' | '.join(PRECISIONS)} (bf16 autocast of the forward pass; losses and "
                     "Adam in fp32)",
        "compile": f"{' | '.join(COMPILE_MODES)}: torch.compile the forward "
        "(reduce-overhead captures CUDA graphs, CUDA only)",
    }


HELPS = {
    "data_root": "data folder (default $LVAE_DATA or ~/.cache/lvae)",
    "image_every": "log reconstructions/traversals every N steps (0: only at the end)",
    "channels_last": "NHWC layout for conv weights and batches (same losses; default: by detected "
                     "CPU features)",
    "eval_every": "log track-metrics to TensorBoard (metric/*) every N steps (0: never)",
    "track_num_train": "training sample of the metrics along training",
    "track_num_test": "test sample of the metrics along training",
    "eval_options": 'metric settings, e.g. \'{"dci_probe": "gbt", "num_bins": 20}\'',
    "track_options": "metric settings of the metrics along training",
    "threads": "torch intra-op threads (default: PyTorch's, all cores)",
    "objective_betas": "Adam betas of the objective's own parameters (L-VAE's loss weights)",
    "deterministic": "deterministic kernels (cuDNN, torch.use_deterministic_algorithms) for "
                     "reproducible GPU runs",
    "objective_lr": "learning rate of the objective's own parameters, e.g. L-VAE's loss weights "
                    "(default: --lr)",
    "data_on_device": "keep the images on the device and draw batches there (default: on "
                      "accelerators when they fit)",
    "final_optimizer_state": "keep Adam's moments in the last checkpoint, to train the "
                             "finished run further exactly (off: a third of the size)",
}


def objective_epilog() -> str:
    """Every registered objective's parameters and defaults, one line each."""
    from lvae.objectives import OBJECTIVES

    lines = ["objective parameters (--param KEY=VALUE), with their defaults:"]
    for name in sorted(OBJECTIVES):
        params = ", ".join(f"{k}={v}" for k, v in OBJECTIVES[name].defaults.items()) or "(none)"
        lines.append(f"  {name}: {params}")
    return "\n".join(lines)


def _add_field(p: argparse.ArgumentParser, f: dataclasses.Field, default: Any, text: str) -> None:
    """One TrainConfig field as a flag; its type and form follow the field's default."""
    flag = "--" + f.name.replace("_", "-")
    if f.name == "objective_params":
        p.add_argument("--param", dest="objective_params", action=
                       "append", default=[], metavar="KEY=VALUE",
                       help="objective parameter, repeatable (e.g. --param lambda=0.01, --param "
                            "beta=4)")
    elif f.name in ("evaluate", "track_metrics"):  # comma-separated lists
        p.add_argument(flag, default=",".join(default), help=text)
    elif f.name in ("eval_options", "track_options"):  # JSON objects
        p.add_argument(flag, type=_json_object, default=default, metavar="JSON",
                       help=f"{text} (default: {json.dumps(default)})")
    elif isinstance(default, bool) or f.name in ("channels_last", "data_on_device"):  # --x / --no-x
        p.add_argument(flag, action=argparse.BooleanOptionalAction, default=default,
                       help=f"{text} (default: {default})")
    elif f.name == "objective_betas":
        p.add_argument(flag, type=float, nargs=2, default=default, metavar=("BETA1", "BETA2"),
                       help=f"{text} (default: {default})")
    else:
        kind = {"threads": int,
                "objective_lr": float}.get(f.name) or {int: int,
                                                       float: float}.get(type(default), str)
        p.add_argument(flag, type=kind, default=default, help=f"{text} (default: {default})")


def build_parser() -> argparse.ArgumentParser:
    """One flag per TrainConfig field (``--param`` for objective_params) and --verbose."""
    p = argparse.ArgumentParser(
        prog="python -m lvae.train",
        description="Train a VAE under one objective; TensorBoard logs (incl. beta/effective), "
        "checkpoints and result.json go to --out. Rerunning on the same --out resumes.",
        epilog=objective_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    helps = {**HELPS, **registry_helps()}
    defaults = TrainConfig()
    for f in dataclasses.fields(TrainConfig):
        _add_field(p, f, getattr(defaults, f.name), helps.get(f.name, f.name))
    p.add_argument("--verbose", action="store_true", help="print each logged record")
    return p


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The parsed command line as a TrainConfig (``--param`` items parsed, --evaluate split)."""
    from lvae.cli import InputError

    params = {}
    for item in args.objective_params:
        if "=" not in item:
            raise InputError(f"--param expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        params[key] = _parse_value(value)
    fields = {k: v for k, v in vars(args).items() if k != "verbose"}
    fields["objective_params"] = params
    for name in ("evaluate", "track_metrics"):
        fields[name] = [m.strip() for m in fields[name].split(",") if m.strip()]
    return TrainConfig.from_dict(fields)


def check_cli_paths(config: TrainConfig) -> None:
    """Refuse paths that would fail half-way (after the dataset is opened or files are
    written): an --out that is a file, run files of the wrong kind, a --data-root file."""
    from lvae.atomic import read_json
    from lvae.cli import InputError, check_output_dir

    out = check_output_dir(config.out, "--out")
    kinds = {CHECKPOINT_NAME: "file", CONFIG_FILE: "file", RESULT_FILE: "file", TB_DIR: "folder"}
    for name, kind in kinds.items():
        path = out / name
        if path.exists() and path.is_dir() != (kind == "folder"):
            found = "a folder" if path.is_dir() else "a file"
            raise InputError(f"--out {out}: {path} is {found}, expected a {kind} written by "
                             "lvae.train")
    if (out / CHECKPOINT_NAME).is_file() and (out / RESULT_FILE).is_file():
        read_json(out / RESULT_FILE, "the result of a finished run (read when it is resumed)")
    if config.data_root is not None and Path(config.data_root).expanduser().exists():
        if not Path(config.data_root).expanduser().is_dir():
            raise InputError(f"--data-root {config.data_root} is a file; expected the data folder")


def main(argv: list[str] | None = None) -> int:
    from lvae.cli import EXPECTED_ERRORS, run_cli

    args = build_parser().parse_args(argv)
    out = args.out
    return run_cli(
        lambda: _train_cli(args),
        expected=(*EXPECTED_ERRORS, trainer.NonFiniteLossError),
        on_interrupt=lambda: f"rerun the same command to resume from the last checkpoint in {out}",
    )


def _train_cli(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    def show(record: dict[str, Any]) -> None:
        step = record["step"]
        if args.verbose or step % (config.log_every * 10) == 0 or step == config.steps:
            print(
                f"step {record['step']:>7d}  loss {record[TOTAL_TAG]:.2f}  recon "
                f"{record[RECON_TAG]:.2f}  kl {record[KL_TAG]:.2f}  beta_eff "
                f"{record[BETA_TAG]:.4g}  {record[STEPS_PER_S_TAG]:.1f} steps/s",
                flush=True,
            )

    # every check runs in lvae.train.run, the paths' before the dataset is opened
    result = trainer.train(config, hook=show, check_paths=check_cli_paths)
    final = result["final"]
    print(
        f"done: {result['steps']} steps in {result['wall_time_s']:.1f} s; final beta_eff "
        f"{final.get(BETA_TAG, math.nan):.4g}; outputs in {config.out} "
        f"(tensorboard --logdir {config.out})"
    )
    if "metrics" in result:
        for key, value in sorted(result["metrics"].items()):
            print(f"  {key:32s} {value:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
