"""Live training display (rich): step, epoch, loss, learning rate, target tokens/s, ETA; and the metrics log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from nmt.errors import NmtError


class MetricsLog:
    """Appends one JSON object per record to ``metrics.jsonl``; with ``tensorboard`` set, also writes every
    numeric field as a TensorBoard scalar at the record's step."""

    def __init__(self, path: Path, tensorboard: Path | None = None) -> None:
        self.handle = path.open("a", encoding="utf-8")
        self.board = None
        if tensorboard is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                self.handle.close()
                raise NmtError("train.tensorboard: true needs the tensorboard package; "
                               "pip install tensorboard (or set train.tensorboard: false)") from None
            self.board = SummaryWriter(str(tensorboard))

    def write(self, record: dict[str, Any]) -> None:
        self.handle.write(json.dumps(record) + "\n")
        self.handle.flush()
        if self.board is not None:
            for key, value in record.items():
                if key not in ("step", "epoch") and isinstance(value, (int, float)) and not isinstance(value, bool):
                    self.board.add_scalar(key, value, record["step"])

    def __enter__(self) -> MetricsLog:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.handle.close()
        if self.board is not None:
            self.board.close()


class TrainProgress:
    """A progress bar on a terminal; plain log lines elsewhere (CI, files)."""

    def __init__(self, console: Console, total: int | None, start: int) -> None:
        self.console = console
        self.live = console.is_terminal
        self.progress = Progress(
            TextColumn("step"), MofNCompleteColumn(), BarColumn(),
            TextColumn("epoch {task.fields[epoch]}  loss {task.fields[loss]}  lr {task.fields[lr]}  "
                       "{task.fields[tps]} tok/s"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=console, disable=not self.live,
        )
        self.task = self.progress.add_task("train", total=total, completed=start, epoch=0, loss="-", lr="-", tps="-")

    def __enter__(self) -> TrainProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.stop()

    def set_total(self, total: int) -> None:
        self.progress.update(self.task, total=total)

    def advance(self, step: int, epoch: int) -> None:
        self.progress.update(self.task, completed=step, epoch=epoch)

    def update(self, step: int, record: dict[str, Any]) -> None:
        fields = {"epoch": record["epoch"], "loss": f"{record['loss']:.3f}", "lr": f"{record['lr']:.2e}",
                  "tps": f"{record['tokens_per_s']:,.0f}"}
        self.progress.update(self.task, completed=step, **fields)
        if not self.live:
            self.console.print(f"step {step}  epoch {fields['epoch']}  loss {fields['loss']}  lr {fields['lr']}  "
                               f"{fields['tps']} tok/s")

    def log_validation(self, record: dict[str, Any], improved: bool) -> None:
        if "valid_bleu" not in record:
            self.console.print(f"step {record['step']}: checkpoint saved (no validation data)")
            return
        mark = " (best)" if improved else ""
        phrases = f"  phrases {record['valid_phrases']:.1f}%" if "valid_phrases" in record else ""
        phrases += f"  real text {record['valid_realtext']:.1f}% whole" if "valid_realtext" in record else ""
        self.console.print(f"step {record['step']}: valid loss {record['valid_loss']:.3f}  "
                           f"ppl {record['valid_ppl']:.2f}  BLEU {record['valid_bleu']:.2f}{phrases}{mark}")
