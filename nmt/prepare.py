"""Training data for a run: read the corpus, train or load SentencePiece, then encode and filter it into a
store of token ids (Arrow table or stream: nmt/pairs.py)."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from nmt.augment import Augment
from nmt.config import DataConfig, ModelConfig, TokenizerConfig, load_config
from nmt.constants import UNK_ID
from nmt.corpora import extra_pairs, load_splits
from nmt.data import Parallel, Splits, as_table, clean_text, stream_pairs
from nmt.errors import NmtError
from nmt.pairs import ArrowPairs, StreamPairs
from nmt.tokenizer import Tokenizer, train_tokenizer


@dataclass
class Prepared:
    tok: Tokenizer
    train: ArrowPairs | StreamPairs  # the training pairs as ids (``batches`` gives an epoch)
    valid: Parallel | None  # validation text (cleaned)


class Reopen:
    """Pairs that can be iterated again and again (SentencePiece reads them once per model)."""

    def __init__(self, open_pairs: Callable[[], Iterable[tuple[str, str]]]) -> None:
        self.open_pairs = open_pairs

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.open_pairs())


def _table_pairs(table) -> Callable[[], Iterator[tuple[str, str]]]:  # noqa: ANN001
    def pairs() -> Iterator[tuple[str, str]]:
        for batch in table.iter(batch_size=10_000):
            yield from zip(batch["src"], batch["tgt"])

    return pairs


@dataclass
class TrainingText:
    open_pairs: Callable[[], Iterable[tuple[str, str]]]  # the training pairs, from the start, each call
    origin: str  # where they come from, for messages
    table: Any  # a datasets.Dataset of src/tgt text, or None when streamed
    splits: Splits
    augment: Augment = Augment()  # data.entities, placeholders, merge, casual: what the id stores do to the pairs

    def tokenizer_pairs(self) -> Iterator[tuple[str, str]]:
        """What SentencePiece learns from: the training pairs as augmented for training."""
        return self.augment(self.open_pairs())


def training_text(data: DataConfig) -> TrainingText:
    """The training pairs a config's data section names, ``data.extra`` after them (and the validation / test
    splits). Streamed, the extra pairs follow the corpus at the end of each epoch."""
    streamed = data.train if data.streaming else None  # a file spec streamed: never read into a table
    splits = load_splits(data.corpus, data.src_lang, data.tgt_lang, data.root, None if streamed else data.train,
                         data.valid, data.test)
    extra = extra_pairs(data.extra, data.src_lang, data.tgt_lang, data.root)
    more = f" + {len(extra):,} pairs of {extra.origin}" if len(extra) else ""
    augment = Augment.of(data)
    if streamed:
        stream = stream_pairs(streamed, data.src_lang, data.tgt_lang)
        return TrainingText(lambda: itertools.chain(stream(), zip(extra.src, extra.tgt)), streamed + more, None,
                            splits, augment)
    if splits.train is None:
        raise NmtError("data.train: no training data; set data.corpus or data.train")
    if isinstance(splits.train, Parallel):  # a named corpus: small, already in memory
        train = Parallel(splits.train.src + extra.src, splits.train.tgt + extra.tgt, splits.train.origin + more)
        return TrainingText(lambda: zip(train.src, train.tgt), train.origin,
                            None if data.streaming else as_table(train), splits, augment)
    table = splits.train
    if len(extra):
        from datasets import concatenate_datasets

        table = concatenate_datasets([table.select_columns(["src", "tgt"]), as_table(extra)])
    origin = splits.train.info.description + more
    return TrainingText(_table_pairs(table), origin, table, splits, augment)


def make_tokenizer(tokenizer: TokenizerConfig, text: TrainingText, run_dir: Path, seed: int,
                   console: Console) -> Tokenizer:
    """The run's tokenizer: the one in ``run_dir``, else the existing models the config names (copied in), else
    SentencePiece trained on the training text (saved into ``run_dir``)."""
    if Tokenizer.exists(run_dir, tokenizer.joint):
        return Tokenizer.load(run_dir, tokenizer.joint)
    if tokenizer.reuses:
        tok = Tokenizer.from_config(tokenizer)
    else:
        console.print(f"training SentencePiece ({tokenizer.type}) on {text.origin} "
                      f"(at most {tokenizer.sample_sentences:,} sentences)")
        tok = train_tokenizer(tokenizer, Reopen(text.tokenizer_pairs), seed)
    tok.save(run_dir)
    return tok


def prepare(data: DataConfig, tokenizer: TokenizerConfig, model: ModelConfig, run_dir: Path, seed: int,
            console: Console) -> Prepared:
    """Everything training reads, from the config's data section; SentencePiece is trained into ``run_dir``
    unless the run already has a model or the config names existing ones (copied in)."""
    text = training_text(data)
    splits, table, open_pairs, origin = text.splits, text.table, text.open_pairs, text.origin
    tok = make_tokenizer(tokenizer, text, run_dir, seed, console)
    max_tokens = min(data.max_tokens, model.max_positions)
    valid = clean_text(splits.valid, Counter()) if splits.valid is not None else None
    size = f"valid: {len(valid) if valid else 0:,} pairs; vocabulary {tok.src_vocab_size:,}"
    if table is None:
        console.print(f"train: streaming {origin}, {data.buffer_pairs:,} pairs at a time; {size}")
        return Prepared(tok, StreamPairs(open_pairs, tok, max_tokens, data.max_ratio, data.buffer_pairs,
                                         model.start_id, text.augment), valid)
    pairs = ArrowPairs.build(table, tok, max_tokens, data.max_ratio, data.num_proc, model.start_id, text.augment)
    dropped = ", ".join(f"{v:,} {k}" for k, v in pairs.drops.items()) or "none"
    if not len(pairs):
        raise NmtError(f"{origin}: every training pair was filtered out ({dropped}); "
                       "raise data.max_tokens or data.max_ratio")
    console.print(f"train: {len(pairs):,} pairs from {origin} (dropped: {dropped}); {size}")
    return Prepared(tok, pairs, valid)


def tokenizer_report(tok: Tokenizer, text: TrainingText, sample: int = 10_000) -> dict[str, Any]:
    """Vocabulary sizes, and on the first ``sample`` training pairs: pieces per sentence and coverage (the share
    of pieces that are not <unk>), per side."""
    pairs = list(itertools.islice(text.open_pairs(), sample))
    report: dict[str, Any] = {"pairs": len(pairs), "joint": tok.joint,
                              "vocab_size": {"src": tok.src_vocab_size, "tgt": tok.tgt_vocab_size}}
    for side, encode, lines in (("src", tok.encode_src, [a for a, _ in pairs]),
                                ("tgt", tok.encode_tgt, [b for _, b in pairs])):
        ids = [x[:-1] if side == "src" else x for x in encode(lines)]  # without the source's </s>
        total = sum(map(len, ids))
        unk = sum(x.count(UNK_ID) for x in ids)
        report[side] = {"pieces_per_sentence": total / max(len(ids), 1), "coverage": 1 - unk / max(total, 1)}
    return report


def train_tokenizer_for(config: str | Path | None, overrides: list[str] | None = None, out: str | Path | None = None,
                        console: Console | None = None) -> tuple[Path, dict[str, Any]]:
    """`nmt tokenizer train`: the SentencePiece model(s) a config describes, trained on its training data into
    ``out`` (default: the run directory, where `nmt train` with the same config picks them up); returns the
    folder and :func:`tokenizer_report`."""
    cfg = load_config(config, overrides)
    folder = Path(out) if out is not None else Path(cfg.runs_root) / cfg.name
    if Tokenizer.exists(folder, cfg.tokenizer.joint):
        raise NmtError(f"{folder}: already holds a tokenizer; choose another folder with --out")
    text = training_text(cfg.data)
    folder.mkdir(parents=True, exist_ok=True)
    tok = make_tokenizer(cfg.tokenizer, text, folder, cfg.train.seed, console or Console(stderr=True))
    return folder, tokenizer_report(tok, text)
