"""The `nmt` command: each subcommand parses options and calls one library function."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import partial
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
Device = Annotated[str, typer.Option("--device", help="auto (CUDA when present, else the CPU), cpu, cuda, cuda:1.")]
LengthPenalty = Annotated[Optional[float], typer.Option(
    "--length-penalty", help="GNMT alpha (default: the run's decode.length_penalty; 0: none).")]
BatchSize = Annotated[Optional[int], typer.Option("--batch-size", help="Sentences per decoding batch.")]
DecodeSets = Annotated[Optional[list[str]], typer.Option(
    "--set", help="A decode setting for this call: --set decode.max_len_b=20 (repeatable).")]


OPTION_OF = {"beam_size": "--beam", "n_best": "--n-best", "sampling": "--sampling",
             "temperature": "--temperature"}  # errors name these flags; the others name the key


def _decode(cfg: Any, sets: list[str] | None, **options: Any) -> None:  # noqa: ANN401
    """Apply this call's decode settings to a loaded run's ``cfg``: ``--set decode.KEY=VALUE`` items, then the
    options that have their own flag (``options``: DecodeConfig field -> value, None: not given); the run's config
    file is not touched. An error names the flag the user typed."""
    from nmt.config import ConfigError, decode_sets

    given = {key: value for key, value in options.items() if value is not None}
    try:
        cfg.decode = cfg.decode.override(decode_sets(sets or []) | given)
    except ConfigError as err:
        if err.field not in given or err.field not in OPTION_OF:
            raise
        raise NmtError(f"{OPTION_OF[err.field]} {given[err.field]}: {err.reason}") from None


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
    run_dir: Annotated[Optional[Path], typer.Option(
        "--run", "--run-dir", help="Run directory to train into (default: runs/<name>).")] = None,
    init_from: Annotated[Optional[str], typer.Option(
        "--init-from", help="Fine-tune: start from this run's weights and tokenizer (train.init_from).")] = None,
    checkpoint: Annotated[Optional[str], typer.Option(
        "--checkpoint", help="With --init-from: best, last or averaged (train.init_checkpoint).")] = None,
    debug: Debug = False,
) -> None:
    """Train SentencePiece and a Transformer from a YAML config, or fine-tune a trained run (--init-from)."""
    from nmt.trainer import train as train_run

    def go():  # noqa: ANN202
        sets = list(overrides or [])
        if checkpoint is not None and init_from is None:
            raise NmtError(f"--checkpoint {checkpoint}: it chooses the weights --init-from starts from; give both")
        sets += [f"train.init_from={init_from}"] if init_from is not None else []
        sets += [f"train.init_checkpoint={checkpoint}"] if checkpoint is not None else []
        return train_run(config, sets, resume, run_dir)

    result = _guard(debug, go)
    if result.exit_code:
        raise typer.Exit(result.exit_code)


@app.command()
def translate(
    text: Annotated[Optional[list[str]], typer.Argument(help="Sentences to translate (else --input or stdin).")] = None,
    input: Annotated[Optional[Path], typer.Option("--input", "-i", help="File with one sentence per line.")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write here instead of stdout.")] = None,
    run: Run = None,
    beam: Beam = None,
    n_best: Annotated[int, typer.Option("--n-best", help=(
        "N hypotheses per line, as Moses/Marian write them: 'i ||| text ||| F0= log-prob ||| score'."))] = 1,
    checkpoint: Checkpoint = "best",
    runs_root: RunsRoot = DEFAULT_RUNS_ROOT,
    device: Device = "auto",
    length_penalty: LengthPenalty = None,
    batch_size: BatchSize = None,
    sets: DecodeSets = None,
    glossary: Annotated[Optional[Path], typer.Option("--glossary", help=(
        "TSV of 'source term<TAB>target term': where a source term occurs, its target term is in the output "
        "(constrained beam search)."))] = None,
    sampling: Annotated[Optional[str], typer.Option("--sampling", help=(
        "Sample instead of searching: topk:K or topp:P (with --n-best N: N samples per line)."))] = None,
    temperature: Annotated[Optional[float], typer.Option("--temperature", help="Sampling temperature.")] = None,
    seed: Annotated[Optional[int], typer.Option(
        "--seed", help="Sampling seed (the same seed, input and batch size: the same samples).")] = None,
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
    no_split: Annotated[bool, typer.Option("--no-split", help=(
        "A line is one model input (default: each sentence is; decode.split_sentences)."))] = False,
    check: Annotated[bool, typer.Option("--check", help=(
        "Flag on stderr each line whose translation lost a number, address or other verbatim span, lost a "
        "sentence, or repeats itself."))] = False,
    engine: Annotated[str, typer.Option("--engine", help="nmt (PyTorch) or ctranslate2 (after nmt export).")] = "nmt",
    format: Annotated[Optional[str], typer.Option("--format", help=(
        "txt, html, srt or vtt (default: by the extension of --input: .html/.htm, .srt, .vtt; others are plain "
        "text)."))] = None,
    merge_cues: Annotated[bool, typer.Option("--merge-cues", help=(
        "Subtitles: a sentence that runs over several cues is translated as one and split back over them by "
        "length."))] = False,
    debug: Debug = False,
) -> None:
    """Translate sentences with a trained run: one output line per input line (a page: block by block with its
    markup; a subtitle file: cue by cue)."""

    split = False if no_split else None

    def checked(translate: Callable[[list[str]], list[str]], data: Any) -> Callable[[list[str], int], list[str]]:  # noqa: ANN401
        """A chunk translator that, with --check, also writes each doubtful line's warnings to stderr."""
        from nmt.realtext import check as check_line

        def chunk_out(chunk: list[str], first: int) -> list[str]:
            out = translate(chunk)
            for number, (line, translated) in enumerate(zip(chunk, out), first + 1) if check else ():
                warnings = check_line(line, translated, data.src_lang, data.tgt_lang)
                if warnings:
                    typer.echo(f"check: line {number}: {'; '.join(warnings)}", err=True)
            return out

        return chunk_out

    def go() -> None:
        from nmt.documents import format_of, translate_document
        from nmt.glossary import read_glossary
        from nmt.stream import translate_input
        from nmt.translate import Translator, moses_nbest

        if engine not in ("nmt", "ctranslate2"):
            raise NmtError(f"--engine {engine!r}: choose nmt or ctranslate2")
        if engine == "ctranslate2":
            from nmt.ct2 import CT2Translator
            from nmt.run import load_run

            if attention or show_attention or align or n_best > 1 or glossary or sampling:
                raise NmtError("--engine ctranslate2 gives translations only; drop --attention/--align/--n-best/"
                               "--glossary/--sampling")
            loaded = load_run(run, None, runs_root=runs_root)
            _decode(loaded.config, sets, beam_size=beam, length_penalty=length_penalty, batch_size=batch_size,
                    split_sentences=split)
            ct2 = CT2Translator(loaded)
            translate_input(checked(lambda chunk: ct2.translate(chunk), loaded.config.data), text, input, output,
                            loaded.config.decode.batch_size)
            return
        translator = Translator.load(run, checkpoint, device, runs_root)
        _decode(translator.cfg, sets, beam_size=beam, n_best=n_best, length_penalty=length_penalty,
                batch_size=batch_size, sampling=sampling, temperature=temperature, seed=seed,
                glossary=None if glossary is None else read_glossary(glossary), split_sentences=split)
        fmt = format_of(input, format)
        if merge_cues and fmt not in ("srt", "vtt"):
            raise NmtError("--merge-cues: for subtitles only (an .srt or .vtt --input, or --format srt/vtt)")
        if fmt != "txt":
            if text or attention or show_attention or align or n_best > 1 or check:
                raise NmtError(f"--format {fmt}: a page or subtitle file is translated from --input or stdin, "
                               "with translations only; drop the text arguments/--attention/--align/--n-best/--check")
            from nmt.attention_maps import aligned_translations

            translate_document(translator, input, output, fmt, partial(aligned_translations, translator), merge_cues)
            return
        if attention or show_attention or align:
            from nmt.attention_maps import check_layer_head, explain
            from nmt.plots import draw_explanations

            check_layer_head(translator, attention_kind, layer, head)  # type: ignore[arg-type]
            cross = attention_kind == "cross"  # the alignment reads the layer/head asked for when drawing cross
            console = Console(stderr=True) if show_attention else None

            def chunk_out(chunk: list[str], first: int) -> list[str]:
                items = explain(translator, chunk, layer if cross else -1, head if cross else None)
                draw_explanations(items, attention_kind, layer, head, attention, all_heads,  # type: ignore[arg-type]
                                  console, first)
                return [f"{item.translation} ||| {item.pharaoh}" if align else item.translation for item in items]
        elif n_best > 1:

            def chunk_out(chunk: list[str], first: int) -> list[str]:
                return moses_nbest(translator.translate(chunk), first)
        else:
            chunk_out = checked(translator, translator.cfg.data)
        translate_input(chunk_out, text, input, output, translator.cfg.decode.batch_size)

    _guard(debug, go)


@app.command()
def serve(
    run: Run = None,
    checkpoint: Checkpoint = "best",
    host: Annotated[str, typer.Option("--host", help="Address to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
    device: Device = "auto",
    runs_root: RunsRoot = DEFAULT_RUNS_ROOT,
    length_penalty: LengthPenalty = None,
    batch_size: BatchSize = None,
    sets: DecodeSets = None,
    max_lines: Annotated[int, typer.Option("--max-lines", help="Lines per request (413 past it).")] = 64,
    max_chars: Annotated[int, typer.Option("--max-chars", help="Characters per line (413 past it).")] = 1000,
    max_beam: Annotated[int, typer.Option("--max-beam", help="Largest beam_size / n_best a request may ask.")] = 8,
    queue_size: Annotated[int, typer.Option("--queue-size", help="Requests waiting (503 past it).")] = 128,
    batch_wait_ms: Annotated[float, typer.Option(
        "--batch-wait-ms", help="How long a request waits for others to be batched with it.")] = 5.0,
    api_key: Annotated[Optional[list[str]], typer.Option(
        "--api-key", help="A key requests must carry as api_key (repeatable; default: no keys needed).")] = None,
    debug: Debug = False,
) -> None:
    """Serve a run over HTTP: POST /translate {"text": ...} or LibreTranslate's {"q": ...}, GET /languages, GET
    /health (pip install -e ".[serve]")."""

    def go() -> None:
        from nmt.serve import Limits, serve
        from nmt.translate import Translator

        limits = Limits(max_lines, max_chars, max_beam, queue_size, batch_wait_ms=batch_wait_ms)
        limits.validate()
        translator = Translator.load(run, checkpoint, device, runs_root)
        _decode(translator.cfg, sets, length_penalty=length_penalty, batch_size=batch_size)
        serve(translator, host, port, limits, frozenset(api_key or ()))

    _guard(debug, go)


RunArg = Annotated[Optional[str], typer.Argument(
    help="A run directory or a run's name (the same as --run; default: the newest run).", show_default=False)]


def _one_run(positional: str | None, option: str | None, runs_root: str = DEFAULT_RUNS_ROOT) -> Path:
    """The run named by ``--run`` or the older positional spelling (not both), else the newest run."""
    from nmt.run import resolve_run

    if positional is not None and option is not None and positional != option:
        raise NmtError(f"the run is given twice ({positional} and --run {option}); give it once")
    return resolve_run(option or positional, runs_root)


@app.command()
def export(
    run_dir: RunArg = None,
    out_dir: Annotated[Optional[Path], typer.Argument(help="Output folder (default: RUN/ctranslate2).")] = None,
    run: Run = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Output folder (the same as OUT_DIR).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="Export format: ctranslate2.")] = "ctranslate2",
    quantization: Annotated[Optional[str], typer.Option(
        "--quantization", help="CTranslate2 weight type: int8, int16, float16, ... (default: float32).")] = None,
    checkpoint: Checkpoint = "best",
    runs_root: RunsRoot = DEFAULT_RUNS_ROOT,
    debug: Debug = False,
) -> None:
    """Convert a run to another engine's format (CTranslate2), SentencePiece model(s) included."""

    def go() -> Path:
        from nmt.ct2 import export_ctranslate2

        if fmt != "ctranslate2":
            raise NmtError(f"--format {fmt!r}: only ctranslate2 is supported")
        if out is not None and out_dir is not None:
            raise NmtError("the output folder is given twice (OUT_DIR and --out); give it once")
        return export_ctranslate2(_one_run(run_dir, run, runs_root), out or out_dir, checkpoint, quantization)

    typer.echo(str(_guard(debug, go)))


@app.command()
def plot(
    run_dir: RunArg = None,
    run: Run = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="PNG (default: RUN/training.png).")] = None,
    runs_root: RunsRoot = DEFAULT_RUNS_ROOT,
    debug: Debug = False,
) -> None:
    """Draw training curves (loss, validation BLEU, learning rate) from the run's metrics.jsonl."""
    from nmt.plots import plot_training

    path = _guard(debug, lambda: plot_training(_one_run(run_dir, run, runs_root), output))
    typer.echo(str(path))


@app.command()
def average(
    run_dir: RunArg = None,
    run: Run = None,
    last: Annotated[int, typer.Option("--last", help="How many of the newest kept `last` checkpoints.")] = 5,
    runs_root: RunsRoot = DEFAULT_RUNS_ROOT,
    debug: Debug = False,
) -> None:
    """Average the weights of a run's newest N `last` checkpoints (kept with train.keep_last) into `averaged`."""

    def go() -> Path:
        from nmt.checkpoint import average_checkpoints

        if last < 1:
            raise NmtError(f"--last {last}: average at least 1 checkpoint")
        return average_checkpoints(_one_run(run_dir, run, runs_root), last)

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
    device: Device = "auto",
    length_penalty: LengthPenalty = None,
    batch_size: BatchSize = None,
    sets: DecodeSets = None,
    corpus: Annotated[Optional[str], typer.Option(
        "--corpus", help="Another named corpus's test sets (tatoeba, multi30k), in the run's languages.")] = None,
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
        _decode(translator.cfg, sets, beam_size=beam, length_penalty=length_penalty, batch_size=batch_size)
        return evaluate_run(translator, translator.run_dir / "eval", corpus)

    results = _guard(debug, go)
    if as_json:
        typer.echo(json.dumps(results, indent=2))
        return
    phrases = results.pop("phrases", None)
    realtext = results.pop("realtext", None)
    for name, scores in results.items():
        extra = f" ({scores['sentences']:,} sentences)" if "sentences" in scores else ""
        typer.echo(f"{name}{extra}")
        for metric in ("bleu", "chrf", "ter"):
            typer.echo(f"  {scores[metric]['text']}")
            typer.echo(f"    signature: {scores[metric]['signature']}")
    if phrases is not None:
        typer.echo(f"phrases (data.phrases): {phrases['right']}/{phrases['total']} right ({phrases['score']:.1f}%)")
        for miss in phrases["misses"]:
            typer.echo(f"  {miss['src']!r} -> {miss['hyp']!r}")
    if realtext is not None:
        typer.echo(f"real text (data.realtext): {realtext['lines']} lines, {realtext['whole']:.1f}% whole, spans "
                   f"{realtext['spans']:.1f}% kept, sentences {realtext['sentences']:.1f}% kept")
        for miss in realtext["misses"]:
            wrong = [f"lost {', '.join(miss['lost'])}"] if miss["lost"] else []
            wrong += [f"sentences {miss['sentences']}"] if miss["sentences"].split("/")[0] != \
                miss["sentences"].split("/")[1] else []
            wrong += [f"repeats {miss['repeats']!r}"] if miss["repeats"] else []
            typer.echo(f"  {miss['src']!r} -> {miss['hyp']!r} ({'; '.join(wrong)})")


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


@app.command("import")
def import_model(
    model: Annotated[str, typer.Argument(
        help="A Marian model folder, or hf:OWNER/NAME (e.g. hf:Helsinki-NLP/opus-mt-en-de).")],
    run: Annotated[Optional[Path], typer.Option(
        "--run", help="Run directory to create (default: runs/<model name>).")] = None,
    src: Annotated[Optional[str], typer.Option(
        "--src", help="Source language (default: from an opus-mt-SRC-TGT name).")] = None,
    tgt: Annotated[Optional[str], typer.Option("--tgt", help="Target language.")] = None,
    overrides: Annotated[Optional[list[str]], typer.Option(
        "--set", help="Override in the run's config: --set data.corpus=multi30k.")] = None,
    debug: Debug = False,
) -> None:
    """Import a Marian / OPUS-MT model (Hugging Face format, safetensors weights) as an nmt run."""
    from nmt.marian import import_marian

    typer.echo(str(_guard(debug, lambda: import_marian(model, run, src, tgt, overrides or []))))


tokenizer_app = typer.Typer(no_args_is_help=True, help="Train SentencePiece models and look at pieces.")
app.add_typer(tokenizer_app, name="tokenizer")
Side = Annotated[str, typer.Option("--side", help="src (source model) or tgt (target model).")]


@tokenizer_app.command("train")
def tokenizer_train(
    config: Annotated[Optional[Path], typer.Argument(help="YAML config (default: configs/tatoeba-en-de.yaml).")] = None,
    out: Annotated[Optional[Path], typer.Option(
        "--out", help="Folder (default: the run directory runs/<name>).")] = None,
    overrides: Annotated[Optional[list[str]], typer.Option(
        "--set", help="Override: --set tokenizer.vocab_size=4000.")] = None,
    debug: Debug = False,
) -> None:
    """Train the SentencePiece model(s) a config describes; `nmt train` with that config then reuses them."""
    from nmt.prepare import train_tokenizer_for

    folder, report = _guard(debug, lambda: train_tokenizer_for(config, overrides or [], out))
    sides = ("src",) if report["joint"] else ("src", "tgt")
    for side in sides:
        name = "joint" if report["joint"] else side
        typer.echo(f"{name}: {report['vocab_size'][side]:,} pieces")
    for side in ("src", "tgt"):
        s = report[side]
        typer.echo(f"{side} text ({report['pairs']:,} training pairs): {s['pieces_per_sentence']:.1f} pieces per "
                   f"sentence, coverage {100 * s['coverage']:.2f}% (pieces that are not <unk>)")
    typer.echo(str(folder))


def _print(lines: list[str]) -> None:
    sys.stdout.write("".join(line + "\n" for line in lines))


def _tokenizer_lines(text: list[str] | None, run: str | None, side: str, runs_root: str):  # noqa: ANN202
    from nmt.run import load_run
    from nmt.stream import iter_lines

    if side not in ("src", "tgt"):
        raise NmtError(f"--side {side!r}: choose src or tgt")
    return load_run(run, None, runs_root=runs_root).tokenizer, list(text) if text else list(iter_lines(None))


@tokenizer_app.command("encode")
def tokenizer_encode(
    text: Annotated[Optional[list[str]], typer.Argument(help="Sentences (else stdin, one per line).")] = None,
    run: Run = None,
    side: Side = "src",
    ids: Annotated[bool, typer.Option("--ids", help="Print ids instead of pieces.")] = False,
    runs_root: RunsRoot = DEFAULT_RUNS_ROOT,
    debug: Debug = False,
) -> None:
    """Show how a run's tokenizer splits text: pieces (or ids) per line."""
    from nmt.tokenizer import show_pieces

    def go() -> list[str]:
        tok, lines = _tokenizer_lines(text, run, side, runs_root)
        return show_pieces(tok, lines, side, ids)

    _print(_guard(debug, go))


@tokenizer_app.command("decode")
def tokenizer_decode(
    text: Annotated[Optional[list[str]], typer.Argument(help="Lines of ids or pieces (else stdin).")] = None,
    run: Run = None,
    side: Side = "tgt",
    runs_root: RunsRoot = DEFAULT_RUNS_ROOT,
    debug: Debug = False,
) -> None:
    """Turn ids or pieces (space-separated, one sentence per line) back into text with a run's tokenizer."""
    from nmt.tokenizer import join_pieces

    def go() -> list[str]:
        tok, lines = _tokenizer_lines(text, run, side, runs_root)
        return join_pieces(tok, lines, side)

    _print(_guard(debug, go))


def main() -> None:
    app()
