"""Run directories and checkpoints: safetensors for tensors, JSON/YAML for the rest, every write atomic.

A run directory holds ``config.yaml`` (the resolved config), the SentencePiece model(s), ``metrics.jsonl`` and
``checkpoints/{last,best}/`` with ``model.safetensors``, ``optimizer.safetensors`` and ``state.json``.
Nothing is ever unpickled.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, load_model, save_file, save_model
from torch import nn

from nmt.constants import (
    CHECKPOINT_DIR,
    CONFIG_FILE,
    DEFAULT_RUNS_ROOT,
    LATEST_POINTER,
    LOCK_FILE,
    MANIFEST_FILE,
    MODEL_FILE,
    OPTIMIZER_FILE,
    STATE_FILE,
)
from nmt.errors import NmtError

# ---------------------------------------------------------------- atomic writes


def atomic_write(path: Path, write: Any) -> None:
    """Call ``write(tmp_path)``, fsync, then rename over ``path``: readers see the old or the new file, whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


# ---------------------------------------------------------------- checkpoints


def save_checkpoint(
    folder: Path, model: nn.Module, optimizer: torch.optim.Optimizer | None, state: dict[str, Any]
) -> None:
    """Write a complete checkpoint next to ``folder`` and swap it in, so a crash never leaves half of one.
    A failed write (disk full, say) removes the partial copy and keeps the previous checkpoint."""
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        save_model(model, str(tmp / MODEL_FILE))
        if optimizer is not None:
            tensors, groups = _flatten_optimizer(optimizer)
            tensors["rng.torch"] = torch.get_rng_state()
            save_file(tensors, str(tmp / OPTIMIZER_FILE))
            state = {**state, "param_groups": groups}
        (tmp / STATE_FILE).write_text(json.dumps(state, indent=1), encoding="utf-8")
        manifest = {}
        for path in sorted(tmp.iterdir()):
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
            manifest[path.name] = {"bytes": path.stat().st_size, "sha256": _sha256(path)}
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        kept = " ; the previous checkpoint is kept" if folder.exists() else ""
        raise NmtError(f"{folder}: could not write the checkpoint ({err.strerror or err}){kept}; free space "
                       "or choose another --run-dir, then continue with --resume") from None
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def verify_checkpoint(folder: Path) -> None:
    """Check each file against the checkpoint's manifest (size and SHA-256); errors name the damaged file."""
    manifest_path = folder / MANIFEST_FILE
    if not manifest_path.is_file():
        raise NmtError(f"{manifest_path}: missing; the checkpoint is incomplete — use the other checkpoint "
                       "(--checkpoint last/best) or retrain")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise NmtError(f"{manifest_path}: damaged (not JSON); use the other checkpoint or retrain") from None
    for name, expected in manifest.items():
        path = folder / name
        if not path.is_file():
            raise NmtError(f"{path}: missing from the checkpoint; use the other checkpoint or retrain")
        if path.stat().st_size != expected["bytes"] or _sha256(path) != expected["sha256"]:
            raise NmtError(f"{path}: damaged (size or checksum differs from {MANIFEST_FILE}); use the other "
                           "checkpoint or retrain")


def load_weights(folder: Path, model: nn.Module) -> None:
    """Verify a checkpoint folder and load its ``model.safetensors`` into ``model`` (strict). Never unpickles."""
    path = folder / MODEL_FILE
    if not path.is_file():
        raise NmtError(f"{path}: checkpoint weights missing; retrain with `nmt train` or pick another checkpoint")
    verify_checkpoint(folder)
    try:
        missing, unexpected = load_model(model, str(path), strict=False)
    except (SafetensorError, OSError) as err:
        raise NmtError(f"{path}: damaged weights file ({str(err).splitlines()[0]}); retrain or use another "
                       "checkpoint") from None
    except RuntimeError as err:  # shape mismatch: the file belongs to another config
        detail = next((line.strip() for line in str(err).splitlines() if "size mismatch" in line), str(err))
        raise NmtError(f"{path}: weights do not match the run's config ({detail[:160]})") from None
    if missing or unexpected:
        raise NmtError(f"{path}: weights do not match the run's config (missing {sorted(missing)[:3]}, "
                       f"unexpected {sorted(unexpected)[:3]})")


def load_training_state(folder: Path, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Restore optimizer and RNG state; return the JSON trainer state."""
    state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
    tensors = load_file(str(folder / OPTIMIZER_FILE))
    torch.set_rng_state(tensors.pop("rng.torch"))
    _restore_optimizer(optimizer, tensors, state.pop("param_groups"))
    return state


def _flatten_optimizer(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list[dict]]:
    sd = optimizer.state_dict()
    tensors = {}
    for idx, per_param in sd["state"].items():
        for name, value in per_param.items():
            tensors[f"state.{idx}.{name}"] = torch.as_tensor(value).detach().clone().contiguous()
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in sd["param_groups"]]
    return tensors, groups


def _restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], groups: list[dict]) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        _, idx, name = key.split(".", 2)
        state.setdefault(int(idx), {})[name] = value
    for g in groups:
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
    optimizer.load_state_dict({"state": state, "param_groups": groups})


# ---------------------------------------------------------------- run directories


def checkpoint_dir(run_dir: Path, which: str) -> Path:
    return run_dir / CHECKPOINT_DIR / which


def has_checkpoint(run_dir: Path, which: str = "last") -> bool:
    return (checkpoint_dir(run_dir, which) / MODEL_FILE).is_file()


def mark_latest(run_dir: Path) -> None:
    """Record ``run_dir`` as the newest run, for commands given no run."""
    atomic_write_text(run_dir.parent / LATEST_POINTER, run_dir.name + "\n")


def resolve_run(run: str | None, runs_root: str = DEFAULT_RUNS_ROOT) -> Path:
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


class RunLock:
    """One writer per run directory: an exclusive ``flock`` on ``.lock``. The kernel drops the lock when its
    process dies, so a lock file left by a dead process is stale and simply taken over."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / LOCK_FILE
        self.fd: int | None = None

    def __enter__(self) -> RunLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            owner = os.pread(fd, 64, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            if err.errno in (errno.EWOULDBLOCK, errno.EACCES):
                raise NmtError(f"{self.path.parent}: already being trained by {owner}; wait for it to finish, "
                               "stop it, or train into another --run-dir") from None
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}\n".encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def check_writable(folder: Path) -> None:
    """Fail at start, not after an hour of training, when the run directory cannot be written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise NmtError(f"{folder}: cannot write the run directory ({err.strerror or err}); choose a writable "
                       "--run-dir or runs_root") from None
