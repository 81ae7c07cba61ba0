"""Training data for a run: read and clean the corpus, train or load SentencePiece, encode, filter by length."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from nmt.config import DataConfig, ModelConfig, TokenizerConfig
from nmt.corpora import load_splits
from nmt.data import Parallel, clean_text, filter_lengths
from nmt.errors import NmtError
from nmt.tokenizer import Tokenizer, train_tokenizer


@dataclass
class Prepared:
    tok: Tokenizer
    src_ids: list[list[int]]  # training sources, ending with </s>
    tgt_ids: list[list[int]]  # training targets, without <s>/</s>
    valid: Parallel | None  # validation text (cleaned)
    drops: dict[str, int]  # training pairs dropped, by reason


def prepare(data: DataConfig, tokenizer: TokenizerConfig, model: ModelConfig, run_dir: Path, seed: int,
            console: Console) -> Prepared:
    """Everything training reads, from the config's data section; SentencePiece is trained into ``run_dir``
    unless the run already has a model."""
    splits = load_splits(data.corpus, data.src_lang, data.tgt_lang, data.root, data.train, data.valid, data.test)
    if splits.train is None:
        raise NmtError("data.train: no training data; set data.corpus or data.train")
    drops: Counter = Counter()
    train = clean_text(splits.train, drops)
    if not len(train):
        raise NmtError(f"{splits.train.origin}: every training pair was filtered out ({dict(drops)})")
    if Tokenizer.exists(run_dir, tokenizer.joint):
        tok = Tokenizer.load(run_dir, tokenizer.joint)
    else:
        console.print(f"training SentencePiece ({tokenizer.type}) on {len(train):,} pairs")
        tok = train_tokenizer(tokenizer, train.src, train.tgt, seed)
        tok.save(run_dir)
    src_ids, tgt_ids = tok.encode_src(train.src), tok.encode_tgt(train.tgt)
    keep = filter_lengths(src_ids, tgt_ids, min(data.max_tokens, model.max_positions), data.max_ratio, drops)
    if not keep:
        raise NmtError(f"{splits.train.origin}: every training pair was filtered out ({dict(drops)}); "
                       "raise data.max_tokens or data.max_ratio")
    valid = clean_text(splits.valid, Counter()) if splits.valid is not None else None
    dropped = ", ".join(f"{v:,} {k}" for k, v in drops.items()) or "none"
    console.print(f"train: {len(keep):,} pairs from {splits.train.origin} (dropped: {dropped}); "
                  f"valid: {len(valid) if valid else 0:,} pairs; vocabulary {tok.src_vocab_size:,}")
    return Prepared(tok, [src_ids[i] for i in keep], [tgt_ids[i] for i in keep], valid, dict(drops))
