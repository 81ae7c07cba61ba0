"""Training data for a run: read the corpus, train or load SentencePiece, then encode and filter it into a
store of token ids (Arrow table or stream: nmt/pairs.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from nmt.config import DataConfig, ModelConfig, TokenizerConfig
from nmt.corpora import load_splits
from nmt.data import Parallel, as_table, clean_text, stream_pairs
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


def prepare(data: DataConfig, tokenizer: TokenizerConfig, model: ModelConfig, run_dir: Path, seed: int,
            console: Console) -> Prepared:
    """Everything training reads, from the config's data section; SentencePiece is trained into ``run_dir``
    unless the run already has a model."""
    streamed = data.train if data.streaming else None  # a file spec streamed: never read into a table
    splits = load_splits(data.corpus, data.src_lang, data.tgt_lang, data.root, None if streamed else data.train,
                         data.valid, data.test)
    table = None
    if streamed:
        open_pairs, origin = stream_pairs(streamed, data.src_lang, data.tgt_lang), streamed
    elif splits.train is None:
        raise NmtError("data.train: no training data; set data.corpus or data.train")
    elif isinstance(splits.train, Parallel):  # a named corpus: small, already in memory
        train = splits.train
        open_pairs, origin = (lambda: zip(train.src, train.tgt)), train.origin
        if not data.streaming:
            table = as_table(train)
    else:  # a file spec as an Arrow table
        table, origin = splits.train, splits.train.info.description
        open_pairs = _table_pairs(table)
    if Tokenizer.exists(run_dir, tokenizer.joint):
        tok = Tokenizer.load(run_dir, tokenizer.joint)
    else:
        console.print(f"training SentencePiece ({tokenizer.type}) on {origin} "
                      f"(at most {tokenizer.sample_sentences:,} sentences)")
        tok = train_tokenizer(tokenizer, Reopen(open_pairs), seed)
        tok.save(run_dir)
    max_tokens = min(data.max_tokens, model.max_positions)
    valid = clean_text(splits.valid, Counter()) if splits.valid is not None else None
    size = f"valid: {len(valid) if valid else 0:,} pairs; vocabulary {tok.src_vocab_size:,}"
    if table is None:
        console.print(f"train: streaming {origin}, {data.buffer_pairs:,} pairs at a time; {size}")
        return Prepared(tok, StreamPairs(open_pairs, tok, max_tokens, data.max_ratio, data.buffer_pairs), valid)
    pairs = ArrowPairs.build(table, tok, max_tokens, data.max_ratio, data.num_proc)
    dropped = ", ".join(f"{v:,} {k}" for k, v in pairs.drops.items()) or "none"
    if not len(pairs):
        raise NmtError(f"{origin}: every training pair was filtered out ({dropped}); "
                       "raise data.max_tokens or data.max_ratio")
    console.print(f"train: {len(pairs):,} pairs from {origin} (dropped: {dropped}); {size}")
    return Prepared(tok, pairs, valid)
