"""A run directory as one object: ``load_run`` rebuilds the config, tokenizer and (optionally) model from it,
as Sockeye's ``load_model`` does. Every consumer (translate, eval, export, plots, the CTranslate2 engine,
fine-tuning) starts here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from nmt.checkpoint import checkpoint_dir, has_checkpoint, load_weights
from nmt.config import Config, load_config
from nmt.constants import CONFIG_FILE, DEFAULT_RUNS_ROOT, LATEST_POINTER
from nmt.errors import NmtError
from nmt.files import atomic_write_text
from nmt.model import Transformer
from nmt.tokenizer import Tokenizer

CHECKPOINTS = ("best", "last", "averaged")


@dataclass
class Run:
    """A trained run: its resolved config, tokenizer and (when loaded) model, in eval mode."""

    config: Config
    tokenizer: Tokenizer
    model: Transformer | None
    dir: Path


def pick_device(name: str | torch.device, key: str = "--device") -> torch.device:
    """``auto`` is CUDA when there is a GPU, else the CPU; asking for CUDA without one is a user error."""
    name = str(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise NmtError(f"{key}: '{name}' requested but no CUDA device is available; use auto or cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise NmtError(f"{key}: '{name}' is not a device; use auto, cpu, cuda or cuda:N") from None


def resolve_run(run: str | Path | None, runs_root: str = DEFAULT_RUNS_ROOT) -> Path:
    """A run directory from a path or a run name; by default the newest run under ``runs_root``."""
    if run is not None:
        for candidate in (Path(run), Path(runs_root) / run):
            if (candidate / CONFIG_FILE).is_file():
                return candidate
        raise NmtError(f"{run}: not a run directory (no {CONFIG_FILE}); pass a folder made by `nmt train`")
    pointer = Path(runs_root) / LATEST_POINTER
    if pointer.is_file():
        candidate = Path(runs_root) / pointer.read_text(encoding="utf-8").strip()
        if (candidate / CONFIG_FILE).is_file():
            return candidate
    raise NmtError(f"no trained model found under {runs_root}/; train one with `nmt train` "
                   "(or pass --run RUN_DIR)")


def mark_latest(run_dir: Path) -> None:
    """Record ``run_dir`` as the newest run, for commands given no run."""
    atomic_write_text(run_dir.parent / LATEST_POINTER, run_dir.name + "\n")


def load_run(run: str | Path | None = None, checkpoint: str | None = "best", device: str | torch.device = "cpu",
             runs_root: str = DEFAULT_RUNS_ROOT) -> Run:
    """Config, tokenizer and the ``checkpoint`` weights (best, last or averaged) of a run, the newest run when
    ``run`` is None, on ``device`` (``auto``: CUDA when present); ``checkpoint=None`` loads no model (for engines
    that bring their own weights)."""
    run_dir = resolve_run(run, runs_root)
    if checkpoint is not None and checkpoint not in CHECKPOINTS:
        raise NmtError(f"--checkpoint {checkpoint!r}: choose one of {', '.join(CHECKPOINTS)}")
    if checkpoint is not None and not has_checkpoint(run_dir, checkpoint):
        how = ("write it with `nmt average` or train.average_last" if checkpoint == "averaged" else
               "train it with `nmt train` (checkpoints are written at each validation)")
        raise NmtError(f"{run_dir}: no '{checkpoint}' checkpoint yet; {how}")
    cfg = load_config(run_dir / CONFIG_FILE)
    tok = Tokenizer.load(run_dir, cfg.tokenizer.joint)
    model = None
    if checkpoint is not None:
        model = Transformer(cfg.model, tok.src_vocab_size, tok.tgt_vocab_size)
        load_weights(checkpoint_dir(run_dir, checkpoint), model)
        model = model.to(pick_device(device)).eval()
    return Run(cfg, tok, model, run_dir)
