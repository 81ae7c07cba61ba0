"""Pictures, drawing only: attention heatmaps (PNG via matplotlib, or rich colours in a terminal) and training
curves. What is drawn comes from nmt.attention_maps and the run's metrics.jsonl. Layers and heads count from 0."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from nmt.attention_maps import KIND_HELP, AttentionMaps, Explanation, Kind
from nmt.constants import METRICS_FILE
from nmt.errors import NmtError
from nmt.files import atomic_write


def _pyplot():  # noqa: ANN202 - imported lazily, with a backend that needs no display
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _title(maps: AttentionMaps, kind: Kind, layer: int, head: int | None) -> str:
    n_layers, n_heads = maps.of(kind).shape[:2]
    which = f"head {head}" if head is not None else f"mean of {n_heads} heads"
    return f"{KIND_HELP[kind]}, layer {layer % n_layers} of {n_layers} (from 0), {which}"


def _save(fig, path: Path) -> None:  # noqa: ANN001
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=150, bbox_inches="tight"))


def plot_attention(maps: AttentionMaps, kind: Kind, path: Path, layer: int = -1, head: int | None = None,
                   all_heads: bool = False) -> None:
    """Heatmap PNG: rows and columns labelled with tokens, a colour bar; or a grid of every layer x head."""
    plt = _pyplot()
    rows, cols = maps.labels(kind)
    weights = maps.of(kind)
    if all_heads:
        n_layers, n_heads = weights.shape[:2]
        size = max(2.2, 0.22 * max(len(rows), len(cols)))
        fig, axes = plt.subplots(n_layers, n_heads, figsize=(size * n_heads, size * n_layers), squeeze=False)
        for li in range(n_layers):
            for hi in range(n_heads):
                ax = axes[li][hi]
                image = ax.imshow(weights[li, hi].numpy(), cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
                ax.set_title(f"layer {li}, head {hi}", fontsize=8)
                ax.set_xticks(range(len(cols)), cols, rotation=90, fontsize=6)
                ax.set_yticks(range(len(rows)), rows, fontsize=6)
        fig.colorbar(image, ax=axes, shrink=0.6)
        fig.suptitle(KIND_HELP[kind])
    else:
        matrix = maps.matrix(kind, layer, head).numpy()
        fig, ax = plt.subplots(figsize=(max(4.0, 0.45 * len(cols) + 2), max(3.0, 0.4 * len(rows) + 1.5)))
        image = ax.imshow(matrix, cmap="viridis", vmin=0.0, aspect="auto")
        ax.set_xticks(range(len(cols)), cols, rotation=60, ha="right")
        ax.set_yticks(range(len(rows)), rows)
        ax.set_xlabel({"self": "source (keys)", "masked": "decoder input (keys)", "cross": "source"}[kind])
        ax.set_ylabel({"self": "source (queries)", "masked": "decoder input (queries)", "cross": "output"}[kind])
        ax.set_title(_title(maps, kind, layer, head), fontsize=9)
        fig.colorbar(image, ax=ax, label="attention weight")
    _save(fig, path)
    plt.close(fig)


def show_attention(maps: AttentionMaps, kind: Kind, console: Console, layer: int = -1,
                   head: int | None = None) -> None:
    """The same matrix as a table in the terminal, each cell shaded by its weight (two digits: weight x 100)."""
    rows, cols = maps.labels(kind)
    matrix = maps.matrix(kind, layer, head)
    table = Table(title=_title(maps, kind, layer, head), show_lines=False, padding=(0, 0), box=None)
    table.add_column("")
    for label in cols:
        table.add_column(Text(label, overflow="fold"), justify="center", max_width=6)
    peak = float(matrix.max()) or 1.0
    for label, weights in zip(rows, matrix.tolist()):
        cells = []
        for w in weights:
            level = int(255 * w / peak)
            fg = "black" if level > 140 else "white"
            cells.append(Text(f"{round(100 * w):>3d}", style=f"{fg} on rgb({level // 3},{level // 2},{level})"))
        table.add_row(label, *cells)
    console.print(table)


def read_metrics(run_dir: Path) -> list[dict]:
    path = run_dir / METRICS_FILE
    if not path.is_file():
        raise NmtError(f"{path}: no metrics yet; train the run with `nmt train` first")
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            records.append(json.loads(line))
        except ValueError:
            raise NmtError(f"{path}: line {number}: not JSON; the metrics file is damaged") from None
    return records


def plot_training(run_dir: Path, path: Path | None = None) -> Path:
    """Training and validation loss, validation BLEU and learning rate over steps, as one PNG."""
    records = read_metrics(run_dir)

    def last_per_step(rows: list[dict]) -> list[dict]:  # after a resume the replayed steps are logged again
        return sorted({r["step"]: r for r in rows}.values(), key=lambda r: r["step"])

    train = last_per_step([r for r in records if "loss" in r])
    valid = last_per_step([r for r in records if "valid_loss" in r])
    if not train and not valid:
        raise NmtError(f"{run_dir / METRICS_FILE}: no training records to plot yet")
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    axes[0].plot([r["step"] for r in train], [r["loss"] for r in train], label="training (label-smoothed)")
    axes[0].plot([r["step"] for r in valid], [r["valid_loss"] for r in valid], "o-", label="validation")
    axes[0].set_title("loss per target token")
    axes[0].legend()
    axes[1].plot([r["step"] for r in valid], [r["valid_bleu"] for r in valid], "o-", color="tab:green")
    axes[1].set_title("validation BLEU (greedy)")
    axes[2].plot([r["step"] for r in train], [r["lr"] for r in train], color="tab:red")
    axes[2].set_title("learning rate")
    for ax in axes:
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.suptitle(run_dir.name)
    out = path or run_dir / "training.png"
    _save(fig, out)
    plt.close(fig)
    return out


def draw_explanations(items: list[Explanation], kind: Kind, layer: int = -1, head: int | None = None,
                      png: Path | None = None, all_heads: bool = False, console: Console | None = None,
                      first: int = 0) -> None:
    """For each explained line: a heatmap to ``png`` (NAME.png, NAME-2.png, ... by line number, the first item
    being input line ``first + 1``; a line of several model inputs, sentences or parts: NAME.1.png, NAME.2.png,
    ...) and/or the table on ``console``. Empty lines get neither."""
    for number, item in enumerate(items, first + 1):
        for part, maps in enumerate(item.maps, 1):
            if png is not None:
                name = png.stem if number == 1 else f"{png.stem}-{number}"
                name += f".{part}" if len(item.maps) > 1 else ""
                plot_attention(maps, kind, png.with_name(name + png.suffix), layer, head, all_heads)
            if console is not None:
                show_attention(maps, kind, console, layer, head)
