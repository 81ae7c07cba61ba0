"""Training: data -> SentencePiece -> token-budget batches -> Transformer, with validation, checkpoints, resume.

``Trainer.fit`` is the loop (batch, step, log, validate/save, stop?); the run's position lives in one
``TrainState``, saved in every checkpoint; ``stop_reason`` is the one place that decides to stop.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import random
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from rich.console import Console

from nmt import distributed
from nmt.attention import attention_kernels
from nmt.checkpoint import (
    average_checkpoints,
    checkpoint_dir,
    has_checkpoint,
    load_training_state,
    load_weights,
    save_checkpoint,
)
from nmt.config import Config, TrainConfig, load_config, save_config
from nmt.constants import CONFIG_FILE, METRICS_FILE, PAD_ID
from nmt.data import Batch, Parallel, as_table
from nmt.errors import NmtError
from nmt.evaluate import score
from nmt.files import RunLock, check_writable
from nmt.model import Transformer
from nmt.pairs import ArrowPairs
from nmt.phrases import phrase_score, read_phrases, read_realtext, realtext_score
from nmt.prepare import prepare
from nmt.progress import MetricsLog, TrainProgress
from nmt.run import mark_latest, pick_device, resolve_run
from nmt.tokenizer import Tokenizer
from nmt.translate import translate_lines


@dataclass
class TrainResult:
    run_dir: Path
    steps: int
    best_bleu: float
    stopped: str  # why training ended
    exit_code: int = 0  # 128 + signal number after a polite stop (SIGINT: 130, SIGTERM: 143)


@dataclass
class TrainState:
    """Where a run is: saved in every checkpoint (state.json) and restored as a whole by ``--resume``."""

    step: int = 0  # optimizer steps taken
    epoch: int = 0
    batch: int = 0  # this process's next batch in the epoch's seeded order
    best_bleu: float = -1.0
    bad_validations: int = 0  # validations in a row without a better BLEU (for train.patience)
    validated_at: int = -1  # step of the last validation
    nonfinite_steps: int = 0  # updates skipped for NaN/Inf gradients, in all
    elapsed: float = 0.0  # training seconds, over every process that trained this run
    total_steps: int = 0  # where a linear/cosine schedule reaches 0 (0: not known yet)
    # a time budget is re-planned at every validation: the decay runs on from (decay_from, decay_done), the step of
    # the last plan and the share of the decay behind there, to total_steps
    decay_from: int = 0
    decay_done: float = 0.0
    planned_at: list[float] = dataclasses.field(default_factory=lambda: [0, 0.0])  # (step, training seconds)
    valid_seconds: float = 0.0  # of ``elapsed``, spent validating
    validations: int = 0
    # the multiple batch widths are padded to, chosen by the device the run began on and kept for the whole run:
    # the epoch's batches (and so ``batch``) depend on it, so a resume on another device goes on exactly
    pad_multiple: int = 1  # (1: what runs saved before this field had)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrainState:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in names})


@dataclass
class Stop:
    reason: str
    exit_code: int = 0  # 128 + signal number when a signal asked to stop


class Interrupted(NmtError):
    """A signal arrived before training started: nothing worth keeping was written."""

    @classmethod
    def by(cls, sig: signal.Signals) -> Interrupted:
        """The stop ``sig`` makes: its message and exit code (128 + the signal's number)."""
        error = cls(f"stopped by {sig.name} before training started; nothing was kept")
        error.exit_code = 128 + sig.value
        return error


class StopSignals:
    """SIGINT/SIGTERM ask training to stop after the current step (and write a checkpoint); a second
    signal stops at once. Not ``polite`` (while data is prepared): the first signal stops at once."""

    def __init__(self, polite: bool = True) -> None:
        self.polite = polite
        self.received: signal.Signals | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: object) -> None:
        sig = signal.Signals(signum)
        if not self.polite:
            self.received = sig
            raise Interrupted.by(sig)
        if self.received is not None:
            raise KeyboardInterrupt
        self.received = sig
        print(f"\n{sig.name}: stopping after this step and saving a checkpoint (send it again to stop at once)",
              file=sys.stderr)

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def learning_rate(step: int, cfg: TrainConfig, total: int = 0, decay_from: int = 0, decay_done: float = 0.0) -> float:
    """Linear warmup to ``lr`` over ``warmup_steps``, then by ``cfg.schedule``: lr * sqrt(warmup / step)
    (inverse_sqrt), or a linear or cosine decay that reaches 0 at step ``total`` (held at ``lr`` while the total
    is not known yet: a time budget is turned into steps after the first validation past warmup). A re-planned
    total stretches the rest of the decay: from step ``decay_from``, where ``decay_done`` of it was behind."""
    step, warmup = max(step, 1), cfg.warmup_steps
    if cfg.schedule == "inverse_sqrt":
        return cfg.lr * min(step / warmup, math.sqrt(warmup / step))
    if step <= warmup:
        return cfg.lr * step / warmup
    done = decay_share(step, warmup, total, decay_from, decay_done) if total else 0.0
    return cfg.lr * (1.0 - done if cfg.schedule == "linear" else 0.5 * (1.0 + math.cos(math.pi * done)))


def decay_share(step: int, warmup: int, total: int, decay_from: int = 0, decay_done: float = 0.0) -> float:
    """The share of a decay to step ``total`` that is behind at ``step``; it started after ``warmup``, or was
    re-planned at ``decay_from`` with ``decay_done`` behind."""
    start = max(decay_from, warmup)
    return min(1.0, decay_done + (1.0 - decay_done) * max(step - start, 0) / max(total - start, 1))


def batch_loss(model: Transformer, batch: Batch, label_smoothing: float) -> torch.Tensor:
    """Summed label-smoothed cross-entropy over real target tokens; logits are computed only there.
    The real positions are found with their count known on the host (``batch.tgt_tokens``): a boolean-mask
    index would make the CPU wait for the GPU to count them."""
    hidden = model.decode(batch.tgt_in, model.encode(batch.src))  # (B, T, D)
    real = torch.nonzero_static((batch.tgt_out != PAD_ID).flatten(), size=batch.tgt_tokens).squeeze(1)  # (N_real,)
    logits = model.output(hidden.flatten(0, 1).index_select(0, real))  # (N_real, V): padding never gets here
    target = batch.tgt_out.flatten().index_select(0, real)  # (N_real,)
    return F.cross_entropy(logits.float(), target, label_smoothing=label_smoothing, reduction="sum")


class LossModule(torch.nn.Module):
    """The model plus its training loss, so that DistributedDataParallel sees one forward per batch."""

    def __init__(self, model: Transformer, label_smoothing: float) -> None:
        super().__init__()
        self.model, self.label_smoothing = model, label_smoothing

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor, tgt_out: torch.Tensor, tgt_tokens: int) -> torch.Tensor:
        return batch_loss(self.model, Batch(src, tgt_in, tgt_out, tgt_tokens), self.label_smoothing)


class SkippedUpdates:
    """NaN/Inf bookkeeping kept on the device, so that a training step never waits for the GPU: the optimizer
    (fused AdamW, told through ``found_inf`` as GradScaler does) leaves weights and moments as they were when
    the gradient norm is not finite, and the host reads these counters only at log, validation and save points."""

    def __init__(self, device: torch.device) -> None:
        self.found = torch.zeros((), device=device)  # 1.0 when this step's update was skipped
        self.streak = torch.zeros((), device=device)  # skipped updates in a row, up to now
        self.worst = torch.zeros((), device=device)  # longest streak since the last read
        self.total = torch.zeros((), device=device)  # skipped updates since the last read

    def record(self, grad_norm: torch.Tensor) -> torch.Tensor:
        """This step's ``found_inf`` (1.0: skip the update), from the total gradient norm; no host sync."""
        self.found.copy_(~torch.isfinite(grad_norm))
        self.streak.add_(self.found).mul_(self.found)  # +1, or back to 0
        torch.maximum(self.worst, self.streak, out=self.worst)
        self.total.add_(self.found)
        return self.found

    def read(self) -> tuple[int, int]:
        """(skipped since the last read, longest run in a row since then, a run going on at the last read
        counted from its start): one device sync; the counters restart."""
        total, worst = (int(x) for x in torch.stack([self.total, self.worst]).tolist())
        self.total.zero_()
        self.worst.copy_(self.streak)
        return total, worst


class LossWindow:
    """Training loss and target tokens since the last log line. The sums stay on the device (no sync per step);
    the loss of a skipped (NaN/Inf) update is left out."""

    def __init__(self, device: torch.device) -> None:
        self.loss, self.loss_tokens = torch.zeros((), device=device), torch.zeros((), device=device)
        self._restart()

    def _restart(self) -> None:
        self.loss.zero_()
        self.loss_tokens.zero_()
        self.tokens, self.started = 0, time.monotonic()

    def add(self, loss: torch.Tensor, tokens: int, skipped: torch.Tensor) -> None:
        kept = 1.0 - skipped  # 0 when the update was skipped
        self.loss += torch.where(kept > 0, loss, 0.0)
        self.loss_tokens += kept * tokens
        self.tokens += tokens

    def close(self, d: distributed.Dist) -> tuple[float, float]:
        """(loss per target token over every process, target tokens/s); the window restarts."""
        loss, now = float(distributed.sum_tensor(self.loss, d)), time.monotonic()
        out = loss / max(float(self.loss_tokens), 1.0), self.tokens / max(now - self.started, 1e-9)
        self._restart()
        return out


class Trainer:
    """Owns one run directory; ``fit`` trains until ``stop_reason`` says so.
    Under torchrun each process trains on its share of every step's batches; rank 0 alone writes."""

    def __init__(self, cfg: Config, run_dir: Path, console: Console | None = None) -> None:
        self.cfg, self.run_dir = cfg, run_dir
        device = pick_device(cfg.train.device, "train.device")
        self.dist = distributed.init(device)
        self.device = distributed.pick_local_device(device, self.dist)
        self.console = console or Console(stderr=True, quiet=not self.dist.main)
        if cfg.train.threads:
            torch.set_num_threads(cfg.train.threads)
        torch.manual_seed(cfg.train.seed)
        random.seed(cfg.train.seed)
        if not self.dist.main:
            distributed.barrier(self.dist)  # rank 0 trains SentencePiece first; the others load it
        data = prepare(cfg.data, cfg.tokenizer, cfg.model, run_dir, cfg.train.seed, self.console)
        if self.dist.main:
            distributed.barrier(self.dist)
        self.tok, self.data, self.valid = data.tok, data.train, data.valid
        self._valid_pairs: ArrowPairs | None = None
        d = cfg.data
        self.phrases = read_phrases(d.phrases, f"{d.src_lang}-{d.tgt_lang}") if d.phrases else []
        self.realtext = read_realtext(d.realtext, d.src_lang) if d.realtext else []
        self.model = Transformer(cfg.model, self.tok.src_vocab_size, self.tok.tgt_vocab_size).to(self.device)
        self.loss = LossModule(self.model, cfg.train.label_smoothing)
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            self.loss = DistributedDataParallel(self.loss, device_ids=[self.device.index] if self.device.type == "cuda"
                                                else None)
        if cfg.train.compile:  # after DDP, as PyTorch recommends; checkpoints still save the plain model
            self.loss = torch.compile(self.loss, dynamic=True, mode=cfg.train.compile_mode)
        t = cfg.train
        # fused: one kernel for all parameters, and it skips an update on the device when told found_inf
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=t.lr, betas=tuple(t.betas), eps=1e-9,
                                           weight_decay=t.weight_decay, fused=True)
        self.bf16 = t.precision == "bf16" or (t.precision == "auto" and self.device.type == "cuda")
        self.skips = SkippedUpdates(self.device)
        self.window_skipped = 0
        self.state = TrainState(pad_multiple=t.pad_multiple(self.device.type))

    def resume(self) -> None:
        raw = load_training_state(checkpoint_dir(self.run_dir, "last"), self.model, self.optimizer)
        self.state = TrainState.from_dict(raw)
        self.console.print(f"resumed {self.run_dir} at step {self.state.step}")

    def init_from(self, source: Path, which: str) -> None:
        """Fine-tuning: start from ``source``'s ``which`` weights (read only); optimizer, schedule, step count and
        best score stay fresh."""
        load_weights(checkpoint_dir(source, which), self.model)
        self.console.print(f"initialised from {source} ({which} checkpoint)")

    # ------------------------------------------------------------ the loop

    def fit(self) -> TrainResult:
        t, s = self.cfg.train, self.state
        started = time.monotonic() - s.elapsed
        if t.schedule != "inverse_sqrt":  # a decaying schedule needs its last step (a time budget: planned later)
            s.total_steps = s.total_steps or self._known_total()
        batches = self.epoch_batches(s.epoch, s.batch)
        window = LossWindow(self.device)
        self.model.train()
        with (self._progress() as progress, self._metrics() as metrics, StopSignals() as signals,
              attention_kernels(self.device, t.attention_kernels)):
            while not (stop := self.stop_reason(signals)):
                # batch: the next `accumulate` batches of this epoch (none left: on to the next epoch)
                group, tokens = self._next_group(batches)
                if not group:
                    batches = self._next_epoch()
                    continue
                # step
                tokens = distributed.sum_int(tokens, self.dist)  # over every process
                loss = self.train_step(group, tokens)
                window.add(loss, tokens, self.skips.found)
                s.step, s.elapsed = s.step + 1, time.monotonic() - started
                # log
                if s.step % t.log_every == 0:
                    self._log(window, metrics, progress)
                else:
                    progress.advance(s.step, s.epoch)
                # validate / save
                if s.step % t.valid_every == 0:
                    self._validate(metrics, progress)
                elif t.save_every and s.step % t.save_every == 0:
                    self._save_last()
            if stop.exit_code:  # a polite stop keeps where it is
                self._save_last()
            elif s.validated_at != s.step:  # any other end validates (and saves) the final weights
                self._validate(metrics, progress)
            if t.average_last and self.dist.main and not stop.exit_code:
                average_checkpoints(self.run_dir, t.average_last)
        self.console.print(f"stopped: {stop.reason}; best validation BLEU {s.best_bleu:.2f}; run: {self.run_dir}")
        distributed.shutdown(self.dist)
        return TrainResult(self.run_dir, s.step, s.best_bleu, stop.reason, stop.exit_code)

    def stop_reason(self, signals: StopSignals) -> Stop | None:
        """Why training stops now, or None: the one place that decides. Every process gets the same answer."""
        t, s = self.cfg.train, self.state
        if distributed.any_true(signals.received is not None, self.dist):
            sig = signals.received or signal.SIGTERM
            return Stop(f"stopped by {sig.name}", 128 + sig.value)
        if t.max_steps and s.step >= t.max_steps:
            return Stop(f"reached train.max_steps={t.max_steps}")
        if t.max_epochs and s.epoch >= t.max_epochs:
            return Stop(f"reached train.max_epochs={t.max_epochs}")
        if t.max_minutes and distributed.broadcast_flag(s.elapsed >= 60 * t.max_minutes, self.dist):
            return Stop(f"reached train.max_minutes={t.max_minutes}")
        if t.max_minutes and s.total_steps and s.step >= s.total_steps:
            return Stop(f"reached the {s.total_steps} steps planned for train.max_minutes={t.max_minutes}")
        if t.patience and distributed.broadcast_flag(s.bad_validations >= t.patience, self.dist):
            return Stop(f"no better validation BLEU in {t.patience} validations (train.patience)")
        return None

    # ------------------------------------------------------------ how many steps

    def _known_total(self) -> int:
        """Steps of the whole run when the limits fix them (max_steps, or max_epochs of a counted corpus: an
        epoch's last, smaller group of batches is a step too); 0 otherwise."""
        t = self.cfg.train
        if t.max_steps:
            return t.max_steps
        return t.max_epochs * math.ceil(self.per_epoch / t.accumulate) if t.max_epochs and self.per_epoch else 0

    def _planned_total(self) -> int:
        """Turn train.max_minutes into a step count, from the seconds per training step since the last plan
        (the whole run so far at the first) and per validation (the final one included), with 3% to spare."""
        t, s = self.cfg.train, self.state
        since_step, since_seconds = s.planned_at
        per_step = (s.elapsed - s.valid_seconds - since_seconds) / max(s.step - since_step, 1)
        per_validation = s.valid_seconds / max(s.validations, 1)
        left = 60 * t.max_minutes - s.elapsed - per_validation
        return s.step + max(1, int(0.97 * left / (per_step + per_validation / t.valid_every)))

    def _replan(self, progress: TrainProgress) -> None:
        """At a validation past warmup, (re-)plan the step count of a decaying schedule under train.max_minutes
        from the rate measured since the last plan, so that the budget is spent however the machine's speed
        changes; the decay behind is kept and the rest stretched to the new total. All of it lives in the state,
        so --resume goes on exactly."""
        t, s = self.cfg.train, self.state
        if t.schedule == "inverse_sqrt" or not t.max_minutes or self._known_total() or s.step < t.warmup_steps:
            return
        total = distributed.sum_int(self._planned_total() if self.dist.main else 0, self.dist)
        if s.total_steps:
            s.decay_done = decay_share(s.step, t.warmup_steps, s.total_steps, s.decay_from, s.decay_done)
            s.decay_from = s.step
        if total != s.total_steps:
            self.console.print(f"step {s.step}: train.max_minutes={t.max_minutes} planned as {total} steps")
            progress.set_total(total)
        s.total_steps, s.planned_at = total, [s.step, s.elapsed - s.valid_seconds]

    # ------------------------------------------------------------ data

    def epoch_batches(self, epoch: int, start: int = 0) -> Iterator[tuple[int, Batch]]:
        """This process's (number, Batch) for ``epoch`` from batch ``start`` on: the seeded token-budget
        batches, every world-th one from its rank on (all processes get the same number)."""
        return self.data.batches(self.cfg.train.batch_tokens, self.cfg.train.seed * 100_003 + epoch, start,
                                 self.dist.rank, self.dist.world, self.state.pad_multiple)

    def _next_group(self, batches: Iterator[tuple[int, Batch]]) -> tuple[list[Batch], int]:
        """The next ``accumulate`` batches of this epoch (fewer at its end) and their target tokens."""
        group, tokens = [], 0
        for number, batch in batches:
            group.append(batch)
            tokens += batch.tgt_tokens
            self.state.batch = number + 1
            if len(group) == self.cfg.train.accumulate:
                break
        return group, tokens

    def _next_epoch(self) -> Iterator[tuple[int, Batch]]:
        """Move to the next epoch. An epoch that gave this process no batch at all would repeat forever."""
        s = self.state
        if s.batch == 0:
            drops = ", ".join(f"{n:,} {why}" for why, n in self.data.drops.items()) or "none"
            raise NmtError(f"{self.run_dir}: epoch {s.epoch + 1} gave no training batch (pairs dropped: {drops}; "
                           f"processes: {self.dist.world}); raise data.max_tokens or data.max_ratio, or train with "
                           "more data or fewer processes")
        s.epoch, s.batch = s.epoch + 1, 0
        return self.epoch_batches(s.epoch)

    # ------------------------------------------------------------ step

    def train_step(self, group: list[Batch], tokens: int) -> torch.Tensor:
        """One optimizer update over ``group`` (accumulated batches; ``tokens``: target tokens of the whole
        step, over all processes). Returns this process's summed loss, as a device tensor. Nothing is read back
        from the device: when the gradient norm is NaN/Inf (the same on every process: DDP has averaged the
        gradients), fused AdamW skips the update itself and ``self.skips`` counts it. Forward and loss run
        under bf16 autocast when ``train.precision`` says so; backward runs outside it, as PyTorch prescribes."""
        t = self.cfg.train
        s = self.state
        lr = learning_rate(s.step + 1, t, s.total_steps, s.decay_from, s.decay_done)
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        total = torch.zeros((), device=self.device)
        scale = self.dist.world / tokens  # DDP averages gradients over processes: undo, then divide globally
        for i, batch in enumerate(group):
            batch = batch.to(self.device)
            last = i == len(group) - 1
            with nullcontext() if last or not self.dist.enabled else self.loss.no_sync():
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                    loss = self.loss(batch.src, batch.tgt_in, batch.tgt_out, batch.tgt_tokens)
                (loss * scale).backward()
            total += loss.detach()
        norm = (torch.nn.utils.clip_grad_norm_(self.model.parameters(), t.clip_norm) if t.clip_norm > 0
                else torch.nn.utils.get_total_norm([p.grad for p in self.model.parameters() if p.grad is not None]))
        self.optimizer.found_inf = self.skips.record(norm)  # read by fused AdamW's step, as GradScaler does
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return total

    # ------------------------------------------------------------ log, validate, save

    @functools.cached_property
    def per_epoch(self) -> int | None:
        """Batches this process gets per epoch (None when streaming: not known before the epoch is read)."""
        return self.data.count_batches(self.cfg.train.batch_tokens, self.dist.world, self.state.pad_multiple)

    def _progress(self) -> TrainProgress:
        return TrainProgress(self.console, self._known_total() or self.state.total_steps or None, self.state.step)

    def _metrics(self) -> MetricsLog | nullcontext:
        t = self.cfg.train
        if not self.dist.main:
            return nullcontext()
        return MetricsLog(self.run_dir / METRICS_FILE, self.run_dir / "tensorboard" if t.tensorboard else None)

    def _log(self, window: LossWindow, metrics: MetricsLog, progress: TrainProgress) -> None:
        self._check_skips()
        loss, tokens_per_s = window.close(self.dist)
        s = self.state
        if self.dist.main:
            record = {"step": s.step, "epoch": s.epoch, "loss": loss, "lr": self.optimizer.param_groups[0]["lr"],
                      "tokens_per_s": tokens_per_s, "elapsed_s": s.elapsed, "skipped_updates": self.window_skipped}
            metrics.write(record)
            progress.update(s.step, record)
        self.window_skipped = 0

    def _check_skips(self) -> None:
        """Read the skipped-update counters (a device sync, so only at log points and before every checkpoint) and
        stop the run when ``train.max_nonfinite`` updates in a row were skipped. Skipped updates change
        nothing, so a checkpoint written between them holds the last good weights."""
        skipped, worst = self.skips.read()
        if not skipped:
            return
        s = self.state
        s.nonfinite_steps += skipped
        self.window_skipped += skipped
        self.console.print(f"step {s.step}: {skipped} update(s) skipped since the last check: NaN/Inf gradients "
                           f"({s.nonfinite_steps} in all)")
        if worst >= self.cfg.train.max_nonfinite:
            raise NmtError(f"{self.run_dir}: {worst} updates in a row had a NaN/Inf loss or gradient "
                           "(train.max_nonfinite); the last good checkpoint is kept — lower train.lr or raise "
                           "train.warmup_steps, then --resume")

    def _save(self, which: str) -> None:
        last = which == "last"
        save_checkpoint(checkpoint_dir(self.run_dir, which), self.model, self.optimizer if last else None,
                        dataclasses.asdict(self.state), keep=self.cfg.train.keep_last if last else 1)

    def _save_last(self) -> None:
        self._check_skips()  # never write a checkpoint past max_nonfinite skipped updates
        if self.dist.main:
            self._save("last")
            mark_latest(self.run_dir)  # the newest run with a checkpoint: what translate/eval use by default
        distributed.barrier(self.dist)

    @torch.no_grad()
    def _validate(self, metrics: MetricsLog, progress: TrainProgress) -> None:
        """Loss, perplexity and greedy BLEU on the validation set (rank 0); writes `last`, and `best` when BLEU
        improves (without validation data, `best` follows `last`)."""
        self._check_skips()  # it writes checkpoints: never past max_nonfinite skipped updates
        s, started = self.state, time.monotonic()
        s.validated_at = s.step
        if self.dist.main:
            record: dict = {"step": s.step, "epoch": s.epoch}
            if self.valid is not None and len(self.valid):
                record.update(self.validation_scores(self.valid, self.cfg.train.valid_bleu_sentences))
            improved = "valid_bleu" not in record or record["valid_bleu"] > s.best_bleu
            if "valid_bleu" in record:  # patience counts only validations that measured BLEU
                s.bad_validations = 0 if improved else s.bad_validations + 1
                s.best_bleu = max(s.best_bleu, record["valid_bleu"])
            self._save("last")
            if improved or not has_checkpoint(self.run_dir, "best"):
                self._save("best")
            mark_latest(self.run_dir)
            metrics.write(record)
            progress.log_validation(record, improved)
        spent = time.monotonic() - started
        s.elapsed, s.valid_seconds, s.validations = s.elapsed + spent, s.valid_seconds + spent, s.validations + 1
        self._replan(progress)
        self.model.train()

    def validation_scores(self, valid: Parallel, bleu_sentences: int) -> dict[str, float]:
        self.model.eval()
        if self._valid_pairs is None:  # the validation text never changes: encode it once
            self._valid_pairs = ArrowPairs.build(as_table(valid), self.tok, self.cfg.model.max_positions, math.inf, 1,
                                                 self.cfg.model.start_id)
        loss, tokens = 0.0, 0
        for _, batch in self._valid_pairs.batches(self.cfg.train.batch_tokens, None,
                                                  multiple=self.state.pad_multiple):
            loss += float(batch_loss(self.model, batch.to(self.device), 0.0))
            tokens += batch.tgt_tokens
        n = len(valid) if not bleu_sentences else min(bleu_sentences, len(valid))
        bleu = score(self._greedy(valid.src[:n]), valid.tgt[:n], self.cfg.data.tgt_lang, ("bleu",))["bleu"]["score"]
        record = {"valid_loss": loss / max(tokens, 1), "valid_ppl": math.exp(min(loss / max(tokens, 1), 50.0)),
                  "valid_bleu": bleu}
        if self.phrases:  # the check set of what people type, beside BLEU (greedy, like it)
            record["valid_phrases"] = phrase_score(self._greedy, self.phrases)["score"]
        if self.realtext:
            record["valid_realtext"] = realtext_score(self._greedy, self.realtext, self.cfg.data.tgt_lang)["whole"]
        return record

    def _greedy(self, lines: list[str]) -> list[str]:
        greedy = self.cfg.decode.override({"beam_size": 1, "n_best": 1})
        hyps = translate_lines(self.model, self.tok, lines, greedy, self.device, self.cfg.data.src_lang)
        return [nbest[0][0] for nbest in hyps]


def train(config: str | Path | None = None, overrides: list[str] | None = None, resume: bool = False,
          run_dir: str | Path | None = None, console: Console | None = None) -> TrainResult:
    """Train from a config file (default: configs/tatoeba-en-de.yaml); ``resume`` continues a run directory."""
    cfg = load_config(config, overrides)
    folder = Path(run_dir) if run_dir else Path(cfg.runs_root) / cfg.name
    if resume:
        if not has_checkpoint(folder, "last"):
            raise NmtError(f"{folder}: nothing to resume (no checkpoint); start it with `nmt train` without --resume")
        cfg = load_config(folder / CONFIG_FILE, overrides)
    elif has_checkpoint(folder, "last"):
        raise NmtError(f"{folder}: a trained run is already there; continue it with --resume or choose another "
                       "name with --set name=NEW_NAME")
    source = None if resume or not cfg.train.init_from else init_source(cfg, folder)
    main = int(os.environ.get("RANK", "0")) == 0  # under torchrun only rank 0 writes
    created = not folder.exists()
    starting = StopSignals(polite=False)  # until fit starts, a signal stops at once
    try:
        with ExitStack() as stack:
            stack.enter_context(starting)
            if main:
                check_writable(folder)
                stack.enter_context(RunLock(folder))
                save_config(cfg, folder / CONFIG_FILE)
                if source is not None:  # the source's tokenizer, so that its ids mean what its weights learned
                    Tokenizer.load(source, cfg.tokenizer.joint).save(folder)
            trainer = Trainer(cfg, folder, console)
            if resume:
                trainer.resume()
            elif source is not None:
                trainer.init_from(source, cfg.train.init_checkpoint)
            return trainer.fit()
    except BaseException as err:
        if main and created and not has_checkpoint(folder, "last"):  # a run that never started leaves nothing
            shutil.rmtree(folder, ignore_errors=True)
        sig = starting.received
        if sig is not None and not isinstance(err, Interrupted):  # the signal's exception, raised inside code
            # that turned it into another (SentencePiece's C++ loop, a datasets worker): still the signal's stop
            raise Interrupted.by(sig) from None
        raise


# Settings that must match between a run and the run it is fine-tuned from: the shape of the weights, and the
# vocabulary (the source's tokenizer is copied; a config asking for another one would not describe the run).
SHAPE_KEYS = ("d_model", "heads", "ffn_dim", "encoder_layers", "decoder_layers", "activation", "norm",
              "max_positions", "tie_embeddings", "tie_output", "position_layout", "output_bias", "decoder_start")
VOCAB_KEYS = ("type", "vocab_size", "joint", "src_vocab_size", "tgt_vocab_size", "model", "src_model", "tgt_model",
              "vocab")


def init_source(cfg: Config, folder: Path) -> Path:
    """The run that ``train.init_from`` names, checked: it has the checkpoint asked for, it is not ``folder``
    itself, and its model shape and vocabulary settings are the config's."""
    t = cfg.train
    source = resolve_run(t.init_from, cfg.runs_root)
    if source.resolve() == folder.resolve():
        raise NmtError(f"train.init_from: {source} is the run being trained; continue it with --resume, or name "
                       "the new run with --set name=NEW_NAME")
    if not has_checkpoint(source, t.init_checkpoint):
        raise NmtError(f"train.init_from: {source} has no '{t.init_checkpoint}' checkpoint; choose another with "
                       "--checkpoint (best, last, averaged)")
    theirs = load_config(source / CONFIG_FILE)
    for section, keys in (("model", SHAPE_KEYS), ("tokenizer", VOCAB_KEYS)):
        for key in keys:
            mine, old = getattr(getattr(cfg, section), key), getattr(getattr(theirs, section), key)
            if mine != old:
                raise NmtError(f"{section}.{key}: {mine!r} here but {old!r} in {source}, which this run starts "
                               "from; fine-tuning keeps the source's shape and vocabulary: "
                               f"--set {section}.{key}={json.dumps(old)}")
    return source
