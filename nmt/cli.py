"""The `nmt` command: each subcommand parses options and calls one library function."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar

import typer
from rich.console import Console

from nmt.constants import DEFAULT_RUNS_ROOT
from nmt.errors import NmtError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="nmt: train and use Transformer translation models.")
T = TypeVar("T")

Debug = Annotated[bool, typer.Option("--debug", help="Show a traceback on errors.")]
Run = Annotated[Optional[str], typer.Option("--run", help="Run directory or name (default: the newest run).")]
RunsRoot = Annotated[str, typer.Option("--runs-root", help="Folder holding run directories.")]
Checkpoint = Annotated[str, typer.Option("--checkpoint", help="Which checkpoint: best, last or averaged.")]
Beam = Annotated[Optional[int], typer.Option("--beam", "-b", help="Beam size (1: greedy; default: the run's).")]


def _guard(debug: bool, fn: Callable[[], T]) -> T:
    """Run ``fn``; user errors become one line on stderr and exit code 2."""
    try:
        return fn()
    except NmtError as err:
        if debug:
            raise
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(err.exit_code) from None
    except OSError as err:
        if debug:
            raise
        where = f"{err.filename}: " if err.filename else ""
        typer.echo(f"error: {where}{err.strerror or err}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(130) from None


@app.command()
def train(
    config: Annotated[Optional[Path], typer.Argument(help="YAML config (default: configs/tatoeba-en-de.yaml).")] = None,
    overrides: Annotated[Optional[list[str]], typer.Option("--set", help="Override: --set model.heads=8.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run from its last checkpoint.")] = False,
    run_dir: Annotated[Optional[Path], typer.Option("--run-dir", help="Run directory (default: runs/<name>).")] = None,
    debug: Debug = False,
) -> None:
    """Train SentencePiece and a Transformer from a YAML config."""
    from nmt.trainer import train as train_run

    result = _guard(debug, lambda: train_run(config, overrides or [], resume, run_dir))
    if result.exit_code:
        raise typer.Exit(result.exit_code)


@app.command()
def translate(
    text: Annotated[Optional[list[str]], typer.Argument(help="Sentences to translate (else --input or stdin).")] = None,
    input: Annotated[Optional[Path], typer.Option("--input", "-i", help="File with one sentence per line.")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write here instead of stdout.")] = None,
    run: Run = None,
    beam: Beam = None,
    n_best: Annotated[int, typer.Option("--n-best", help="Print N hypotheses per line: 'i ||| text ||| score'.")] = 1,
    checkpoint: Checkpoint = "best",
    runs_root: RunsRoot = DEFAULT_RUNS_ROOT,
    device: Annotated[str, typer.Option("--device", help="cpu, cuda, cuda:1, ...")] = "cpu",
    attention: Annotated[Optional[Path], typer.Option(
        "--attention", help="Write an attention heatmap PNG (one per line: NAME-2.png, ... for more lines).")] = None,
    attention_kind: Annotated[str, typer.Option(
        "--attention-kind", help="self (encoder), masked (decoder self) or cross.")] = "cross",
    layer: Annotated[int, typer.Option("--layer", help="Layer to show, from 0; -1: the last.")] = -1,
    head: Annotated[Optional[int], typer.Option("--head", help="One head, from 0; default: the mean of all.")] = None,
    all_heads: Annotated[bool, typer.Option("--all-heads", help="A grid of every layer x head.")] = False,
    show_attention: Annotated[bool, typer.Option(
        "--show-attention", help="Draw the attention matrix in the terminal (stderr).")] = False,
    align: Annotated[bool, typer.Option("--align", help="Append ' ||| i-j ...' word alignments (Pharaoh).")] = False,
    engine: Annotated[str, typer.Option("--engine", help="nmt (PyTorch) or ctranslate2 (after nmt export).")] = "nmt",
    debug: Debug = False,
) -> None:
    """Translate sentences with a trained run: one output line per input line."""

    def go() -> None:
        from nmt.translate import Translator, read_input

        if engine not in ("nmt", "ctranslate2"):
            raise NmtError(f"--engine {engine!r}: choose nmt or ctranslate2")
        lines = list(text) if text else read_input(input)
        if engine == "ctranslate2":
            from nmt.export import CT2Translator
            from nmt.run import load_run

            if attention or show_attention or align or n_best > 1:
                raise NmtError("--engine ctranslate2 gives translations only; drop --attention/--align/--n-best")
            out = CT2Translator(load_run(run, None, runs_root=runs_root)).translate(lines, beam)
            return _write(out, output)
        translator = Translator.load(run, checkpoint, device, runs_root)
        if attention or show_attention or align:
            from nmt.attention_maps import check_layer_head, explain
            from nmt.plots import draw_explanations

            check_layer_head(translator, attention_kind, layer, head)  # type: ignore[arg-type]
            cross = attention_kind == "cross"  # the alignment reads the layer/head asked for when drawing cross
            items = explain(translator, lines, beam, layer if cross else -1, head if cross else None)
            draw_explanations(items, attention_kind, layer, head, attention, all_heads,  # type: ignore[arg-type]
                              Console(stderr=True) if show_attention else None)
            out = [f"{item.translation} ||| {item.pharaoh}" if align else item.translation for item in items]
        elif n_best > 1:
            out = [f"{i} ||| {t} ||| {s:.4f}" for i, nb in enumerate(translator.translate(lines, beam, n_best))
                   for t, s in nb]
        else:
            out = [nb[0][0] for nb in translator.translate(lines, beam)]
        _write(out, output)

    _guard(debug, go)


def _write(lines: list[str], output: Path | None) -> None:
    """One line each, to ``output`` (atomically) or stdout."""
    from nmt.files import atomic_write_text

    payload = "".join(line + "\n" for line in lines)
    if output is not None:
        atomic_write_text(output, payload)
    else:
        sys.stdout.write(payload)


@app.command()
def export(
    run_dir: Annotated[Path, typer.Argument(help="A run directory made by `nmt train`.")],
    out_dir: Annotated[Optional[Path], typer.Argument(help="Output folder (default: RUN_DIR/ctranslate2).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="Export format: ctranslate2.")] = "ctranslate2",
    quantization: Annotated[Optional[str], typer.Option(
        "--quantization", help="CTranslate2 weight type: int8, int16, float16, ... (default: float32).")] = None,
    checkpoint: Checkpoint = "best",
    debug: Debug = False,
) -> None:
    """Convert a run to another engine's format (CTranslate2), SentencePiece model(s) included."""

    def go() -> Path:
        from nmt.export import export_ctranslate2

        if fmt != "ctranslate2":
            raise NmtError(f"--format {fmt!r}: only ctranslate2 is supported")
        return export_ctranslate2(run_dir, out_dir, checkpoint, quantization)

    typer.echo(str(_guard(debug, go)))


@app.command()
def plot(
    run_dir: Annotated[Path, typer.Argument(help="A run directory made by `nmt train`, or a run's name.")],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="PNG (default: RUN/training.png).")] = None,
    debug: Debug = False,
) -> None:
    """Draw training curves (loss, validation BLEU, learning rate) from the run's metrics.jsonl."""
    from nmt.plots import plot_training
    from nmt.run import resolve_run

    path = _guard(debug, lambda: plot_training(resolve_run(run_dir), output))
    typer.echo(str(path))


@app.command()
def average(
    run: Annotated[str, typer.Argument(help="A run directory or a run's name.")],
    last: Annotated[int, typer.Option("--last", help="How many of the newest kept `last` checkpoints.")] = 5,
    runs_root: RunsRoot = DEFAULT_RUNS_ROOT,
    debug: Debug = False,
) -> None:
    """Average the weights of a run's newest N `last` checkpoints (kept with train.keep_last) into `averaged`."""

    def go() -> Path:
        from nmt.checkpoint import average_checkpoints
        from nmt.run import resolve_run

        if last < 1:
            raise NmtError(f"--last {last}: average at least 1 checkpoint")
        return average_checkpoints(resolve_run(run, runs_root), last)

    typer.echo(str(_guard(debug, go)))


@app.command("eval")
def evaluate(
    run: Run = None,
    hyp: Annotated[Optional[Path], typer.Option("--hyp", help="Score this file, no decoding.")] = None,
    ref: Annotated[Optional[Path], typer.Option("--ref", help="Reference file for --hyp.")] = None,
    beam: Beam = None,
    checkpoint: Checkpoint = "best",
    runs_root: RunsRoot = DEFAULT_RUNS_ROOT,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
    device: Annotated[str, typer.Option("--device")] = "cpu",
    debug: Debug = False,
) -> None:
    """sacreBLEU BLEU, chrF and TER of a run on its test set(s), or of --hyp against --ref."""

    def go() -> dict[str, Any]:
        from nmt.evaluate import evaluate_run, score_files
        from nmt.translate import Translator

        if (hyp is None) != (ref is None):
            raise NmtError("--hyp and --ref go together: give both, or neither to decode the run's test sets")
        if hyp is not None and ref is not None:
            return {str(hyp): score_files(hyp, ref)}
        translator = Translator.load(run, checkpoint, device, runs_root)
        return evaluate_run(translator, beam, hyp_dir=translator.run_dir / "eval")

    results = _guard(debug, go)
    if as_json:
        typer.echo(json.dumps(results, indent=2))
        return
    for name, scores in results.items():
        extra = f" ({scores['sentences']:,} sentences)" if "sentences" in scores else ""
        typer.echo(f"{name}{extra}")
        for metric in ("bleu", "chrf", "ter"):
            typer.echo(f"  {scores[metric]['text']}")
            typer.echo(f"    signature: {scores[metric]['signature']}")


@app.command()
def fetch(
    corpus: Annotated[str, typer.Argument(help="tatoeba or multi30k.")],
    src: Annotated[str, typer.Option("--src", help="Source language.")] = "en",
    tgt: Annotated[str, typer.Option("--tgt", help="Target language.")] = "de",
    root: Annotated[Optional[str], typer.Option("--root", help="Data root (default: $NMT_DATA or ./data).")] = None,
    debug: Debug = False,
) -> None:
    """Find a named corpus locally or download it (pinned URL, SHA-256 checked)."""
    from nmt.corpora import load_splits

    splits = _guard(debug, lambda: load_splits(corpus, src, tgt, root))
    sizes = {"train": splits.train, "valid": splits.valid, **splits.tests}
    for name, data in sizes.items():
        if data is not None:
            typer.echo(f"{name}: {len(data):,} pairs from {data.origin}")


def main() -> None:
    app()
