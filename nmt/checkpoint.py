"""Checkpoints: safetensors for tensors, JSON for the rest; nothing is ever unpickled.

``checkpoints/last`` and ``checkpoints/best`` are pointers (relative symlinks) to versioned folders
(``last.00000120.k3x9``) holding ``model.safetensors``, ``optimizer.safetensors`` (``last`` only), ``state.json``
and ``manifest.json`` (size and SHA-256 of each file). A save writes a new version beside the old one, then
renames a new pointer over the old: a reader sees the old checkpoint or the new one, never half of either.
Readers resolve the pointer once, read the files they need from that version and check only those.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save_file, save_model
from torch import nn

from nmt.constants import CHECKPOINT_DIR, MANIFEST_FILE, MODEL_FILE, OPTIMIZER_FILE, STATE_FILE
from nmt.errors import NmtError

READ_ATTEMPTS = 5  # a reader retries when a save replaced the version it resolved before it opened the files


def checkpoint_dir(run_dir: Path, which: str) -> Path:
    """The pointer to a run's ``which`` checkpoint (best or last)."""
    return run_dir / CHECKPOINT_DIR / which


def has_checkpoint(run_dir: Path, which: str = "last") -> bool:
    return (checkpoint_dir(run_dir, which) / MODEL_FILE).is_file()


# ---------------------------------------------------------------- writing


def versions(folder: Path) -> list[Path]:
    """The versioned folders of checkpoint ``folder`` on disk, oldest first (names sort by step; one per step)."""
    pattern = re.compile(rf"{re.escape(folder.name)}\.\d{{8}}\.")
    return sorted(p for p in folder.parent.glob(f"{folder.name}.*")
                  if pattern.match(p.name) and p.is_dir() and not p.is_symlink())


def save_checkpoint(
    folder: Path, model: nn.Module | dict[str, torch.Tensor], optimizer: torch.optim.Optimizer | None,
    state: dict[str, Any], keep: int = 1,
) -> None:
    """Write a complete new version of checkpoint ``folder`` (a pointer path such as checkpoints/last), switch the
    pointer to it and remove older versions but the newest ``keep``. ``model``: a module, or its tensors. A failed
    write (disk full, say) removes the partial version and keeps the previous checkpoint."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    version = Path(tempfile.mkdtemp(prefix=f"{folder.name}.{state.get('step', 0):08d}.", dir=folder.parent))
    try:
        if isinstance(model, nn.Module):
            save_model(model, str(version / MODEL_FILE))  # tied weights stored once
        else:
            save_file(model, str(version / MODEL_FILE))
        if optimizer is not None:
            tensors, groups = _flatten_optimizer(optimizer)
            tensors["rng.torch"] = torch.get_rng_state()
            save_file(tensors, str(version / OPTIMIZER_FILE))
            state = {**state, "param_groups": groups}
        (version / STATE_FILE).write_text(json.dumps(state, indent=1), encoding="utf-8")
        manifest = {}
        for path in sorted(version.iterdir()):
            manifest[path.name] = {"bytes": path.stat().st_size, "sha256": _fsync_and_hash(path)}
        (version / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        _fsync_and_hash(version / MANIFEST_FILE)
        os.chmod(version, 0o777 & ~_umask())  # mkdtemp makes 0700
        _switch(folder, version)
    except OSError as err:
        shutil.rmtree(version, ignore_errors=True)
        kept = " ; the previous checkpoint is kept" if folder.exists() else ""
        raise NmtError(f"{folder}: could not write the checkpoint ({err.strerror or err}){kept}; free space "
                       "or choose another --run, then continue with --resume") from None
    same_step = f"{folder.name}.{state.get('step', 0):08d}."  # an older save of this step is replaced
    older = [v for v in versions(folder) if v != version and not v.name.startswith(same_step)]
    kept = {version, *older[max(0, len(older) - keep + 1):]}
    for old in folder.parent.glob(f"{folder.name}.*"):  # older versions, and a folder of the pre-pointer layout
        if old not in kept and old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)


def _fsync_and_hash(path: Path) -> str:
    """Flush ``path`` to disk and return its SHA-256."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _switch(folder: Path, version: Path) -> None:
    """Point ``folder`` at ``version`` with one rename (a pointer folder of an older layout is moved aside)."""
    if folder.is_dir() and not folder.is_symlink():  # a checkpoint written before pointers existed
        folder.rename(tempfile.mkdtemp(prefix=f"{folder.name}.old.", dir=folder.parent))
    link = folder.with_name(f".{folder.name}.link.tmp")
    link.unlink(missing_ok=True)
    os.symlink(version.name, link)
    os.replace(link, folder)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ---------------------------------------------------------------- reading


def read_checkpoint(folder: Path, names: tuple[str, ...]) -> dict[str, bytes]:
    """The bytes of files ``names`` from one version of checkpoint ``folder``, each checked against that
    version's manifest (only what is read is checked). When a save replaces the version between resolving
    the pointer and reading, the reader resolves it again."""
    for attempt in range(READ_ATTEMPTS):
        version = folder.resolve()
        try:
            return _read_version(version, names)
        except FileNotFoundError as err:
            if attempt + 1 < READ_ATTEMPTS and folder.resolve() != version:
                continue  # a newer checkpoint replaced this one meanwhile
            missing = Path(err.filename or version)
            if missing.name == MANIFEST_FILE:
                raise NmtError(f"{folder / MANIFEST_FILE}: missing; the checkpoint is incomplete — use the other "
                               "checkpoint (--checkpoint last/best) or retrain") from None
            raise NmtError(f"{folder / missing.name}: missing from the checkpoint; use the other checkpoint or "
                           "retrain") from None
    raise AssertionError("unreachable")


def _read_version(version: Path, names: tuple[str, ...]) -> dict[str, bytes]:
    manifest_path = version / MANIFEST_FILE
    raw = manifest_path.read_bytes()
    try:
        manifest = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise NmtError(f"{manifest_path}: damaged (not JSON); use the other checkpoint or retrain") from None
    out = {}
    for name in names:
        data = (version / name).read_bytes()
        expected = manifest.get(name)
        if expected is None or len(data) != expected["bytes"] or hashlib.sha256(data).hexdigest() != expected["sha256"]:
            raise NmtError(f"{version.parent / version.name / name}: damaged (size or checksum differs from "
                           f"{MANIFEST_FILE}); use the other checkpoint or retrain")
        out[name] = data
    return out


def verify_checkpoint(folder: Path) -> None:
    """Check every file the checkpoint's manifest lists (size and SHA-256); errors name the damaged file."""
    try:
        names = tuple(json.loads((folder / MANIFEST_FILE).read_bytes()))
    except FileNotFoundError:
        names = ()  # read_checkpoint names the missing manifest
    except (ValueError, UnicodeDecodeError):
        raise NmtError(f"{folder / MANIFEST_FILE}: damaged (not JSON); use the other checkpoint or retrain") from None
    read_checkpoint(folder, names)


def load_weights(folder: Path, model: nn.Module, data: bytes | None = None) -> None:
    """Load checkpoint ``folder``'s verified ``model.safetensors`` into ``model`` (strict). Never unpickles."""
    path = folder / MODEL_FILE
    if not path.is_file():
        raise NmtError(f"{path}: checkpoint weights missing; retrain with `nmt train` or pick another checkpoint")
    if data is None:
        data = read_checkpoint(folder, (MODEL_FILE,))[MODEL_FILE]
    try:
        tensors = load(data)
    except (SafetensorError, OSError) as err:
        raise NmtError(f"{path}: damaged weights file ({str(err).splitlines()[0]}); retrain or use another "
                       "checkpoint") from None
    try:
        missing, unexpected = model.load_state_dict(tensors, strict=False)
    except RuntimeError as err:  # shape mismatch: the file belongs to another config
        detail = next((line.strip() for line in str(err).splitlines() if "size mismatch" in line), str(err))
        raise NmtError(f"{path}: weights do not match the run's config ({detail[:160]})") from None
    own = model.state_dict()
    loaded = {own[name].data_ptr() for name in tensors if name in own}
    missing = [name for name in missing if own[name].data_ptr() not in loaded]  # tied weights are stored once
    if missing or unexpected:
        raise NmtError(f"{path}: weights do not match the run's config (missing {sorted(missing)[:3]}, "
                       f"unexpected {sorted(unexpected)[:3]})")


def load_training_state(folder: Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Restore weights, optimizer and RNG state from one version of ``folder``; return the JSON trainer state."""
    files = read_checkpoint(folder, (MODEL_FILE, OPTIMIZER_FILE, STATE_FILE))
    load_weights(folder, model, files[MODEL_FILE])
    state = json.loads(files[STATE_FILE])
    tensors = load(files[OPTIMIZER_FILE])
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


def average_checkpoints(run_dir: Path, n: int) -> Path:
    """Write checkpoint ``averaged``: the element-wise mean (summed in float64) of the weights of the newest ``n``
    versions of ``last`` kept on disk (train.keep_last), as fairseq's average_checkpoints does. Returns its pointer."""
    kept = versions(checkpoint_dir(run_dir, "last"))[-n:]
    if len(kept) < n:
        raise NmtError(f"{run_dir}: {len(kept)} `last` checkpoint(s) kept on disk, {n} to average; train with "
                       f"train.keep_last >= {n} (or average fewer with --last)")
    sums: dict[str, torch.Tensor] = {}
    dtypes: dict[str, torch.dtype] = {}
    steps = []
    for version in kept:
        files = read_checkpoint(version, (MODEL_FILE, STATE_FILE))
        for name, tensor in load(files[MODEL_FILE]).items():
            sums[name] = sums[name] + tensor.double() if name in sums else tensor.double()
            dtypes[name] = tensor.dtype
        steps.append(json.loads(files[STATE_FILE])["step"])
    mean = {name: (total / len(kept)).to(dtypes[name]).contiguous() for name, total in sums.items()}
    folder = checkpoint_dir(run_dir, "averaged")
    save_checkpoint(folder, mean, None, {"step": steps[-1], "averaged_steps": steps})
    return folder
