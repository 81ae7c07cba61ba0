"""Training pairs at scale: the Arrow store (datasets.map, num_proc, on-disk cache) and the streaming store
serve the same cleaned, filtered pairs; epochs are reproducible, resumable mid-epoch and split over ranks."""

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from nmt.config import TokenizerConfig
from nmt.constants import EOS_ID
from nmt.data import collate, read_dataset, stream_pairs, token_batches
from nmt.errors import NmtError
from nmt.pairs import ArrowPairs, PairEncoder, StreamPairs
from nmt.tokenizer import train_tokenizer
from tests.conftest import step_losses, write_synthetic_corpus


class WordTokenizer:
    """One id per whitespace-separated word (enough to check cleaning and length rules)."""

    def encode_src(self, lines):
        return [[4 + len(w) for w in line.split()] + [EOS_ID] for line in lines]

    def encode_tgt(self, lines):
        return [[4 + len(w) for w in line.split()] for line in lines]


def test_encoder_cleans_and_drops_with_reasons():
    out = PairEncoder(WordTokenizer(), max_tokens=10, max_ratio=3.0)({
        "src": [" a  b ", "", "a b", "a " * 20, "a", "a b c"],
        "tgt": ["x", "y", "  ", "x", "x " * 6, "x y z"]})
    # ls counts </s>, lt counts one of <s>/</s>: (3, 2) kept, (2, 7) ratio 3.5, (21, 2) too long, (4, 4) kept
    assert out["drop"].tolist() == [0, 1, 1, 2, 3, 0]
    assert out["src_ids"][0] == [5, 5, EOS_ID]  # whitespace collapsed before tokenizing


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pairs")
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(40)]
    lines = []
    for i in range(600):
        src = " ".join(rng.choice(words, rng.integers(1, 12)))
        tgt = " ".join(w + "x" for w in reversed(src.split()))
        lines.append(f"{src}\t{tgt if i % 50 else ''}")  # every 50th pair has an empty target
    (folder / "train.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    spec = str(folder / "train.tsv")
    table = read_dataset(spec, "en", "de")
    tok = train_tokenizer(TokenizerConfig(vocab_size=80), [(a, b) for a, b in zip(table["src"], table["tgt"])], 1)
    return spec, table, tok


def _epoch(store, seed=7, start=0, rank=0, world=1):
    return [(n, b.src.tolist(), b.tgt_out.tolist()) for n, b in store.batches(64, seed, start, rank, world)]


def _pairs(epoch):
    """The (source, target) id tuples an epoch trains on, padding removed."""
    out = []
    for _, src, tgt in epoch:
        for s, t in zip(src, tgt):
            out.append((tuple(x for x in s if x), tuple(x for x in t if x)))
    return sorted(out)


def test_arrow_store_is_file_backed_cached_and_the_same_with_workers(corpus, tmp_path):
    spec, table, tok = corpus
    one = ArrowPairs.build(table, tok, 20, 3.0, num_proc=1)
    copy = tmp_path / "copy.tsv"  # a fresh file: nothing cached for it yet
    copy.write_bytes(Path(spec).read_bytes())
    two = ArrowPairs.build(read_dataset(str(copy), "en", "de"), tok, 20, 3.0, num_proc=2)
    files = [f["filename"] for f in two.table.cache_files]
    assert len(files) == 2 and all(f.endswith("_of_00002.arrow") for f in files)  # two workers, on disk (mmapped)
    assert one.drops["empty side"] == 12 and len(one) == 600 - sum(one.drops.values())
    assert one.drops == two.drops and _epoch(one) == _epoch(two)
    src, tgt = one.fetch(np.arange(len(one)))
    texts = list(table["src"])
    assert src == tok.encode_src([texts[row] for row in one.rows])  # kept pairs' ids, fetched from the table
    for index in token_batches(one.src_lens, one.tgt_lens, 64, seed=1):  # padded from Arrow == collate of lists
        fast, slow = one.batch(index), collate([src[i] for i in index], [tgt[i] for i in index])
        assert all(torch.equal(getattr(fast, k), getattr(slow, k)) for k in ("src", "tgt_in", "tgt_out"))
        assert fast.tgt_tokens == slow.tgt_tokens
    again = ArrowPairs.build(read_dataset(str(copy), "en", "de"), tok, 20, 3.0, num_proc=1)
    assert [f["filename"] for f in again.table.cache_files] == files  # encoded once: a rebuild reads the cache


def test_streaming_serves_the_same_pairs_as_the_table(corpus):
    spec, table, tok = corpus
    arrow = ArrowPairs.build(table, tok, 20, 3.0, num_proc=1)
    stream = StreamPairs(stream_pairs(spec, "en", "de"), tok, 20, 3.0, buffer_pairs=128)
    epoch = _epoch(stream)
    assert _pairs(epoch) == _pairs(_epoch(arrow))
    assert stream.drops == arrow.drops
    assert epoch == _epoch(stream) and epoch != _epoch(stream, seed=8)  # reproducible, differs per epoch
    for _, src, _ in epoch:
        assert len(src) * len(src[0]) <= 64


@pytest.mark.parametrize("kind", ["arrow", "stream"])
def test_resume_mid_epoch_and_rank_shares(corpus, kind):
    spec, table, tok = corpus
    store = (ArrowPairs.build(table, tok, 20, 3.0, num_proc=1) if kind == "arrow"
             else StreamPairs(stream_pairs(spec, "en", "de"), tok, 20, 3.0, buffer_pairs=100))
    full = _epoch(store)
    assert _epoch(store, start=5) == full[5:]  # resuming at batch 5 continues exactly
    ranks = [_epoch(store, rank=r, world=2) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) >= len(full) // 2 - 6  # equal shares; a buffer's odd batch is left out
    assert not Counter(_pairs(ranks[0] + ranks[1])) - Counter(_pairs(full))  # no pair given to both ranks


def test_streaming_reports_bad_lines_as_it_reads(tmp_path):
    (tmp_path / "t.tsv").write_text("a\tb\nno tab\n", encoding="utf-8")
    with pytest.raises(NmtError, match=r"t\.tsv: line 2: no tab"):
        list(stream_pairs(str(tmp_path / "t.tsv"), "en", "de")())
    (tmp_path / "p.en").write_text("a\nb\n", encoding="utf-8")
    (tmp_path / "p.de").write_text("a\n", encoding="utf-8")
    with pytest.raises(NmtError, match=r"p\.en and .*p\.de differ in length after line 1"):
        list(stream_pairs(str(tmp_path / "p"), "en", "de")())
    with pytest.raises(NmtError, match="not found"):
        stream_pairs(str(tmp_path / "missing.tsv"), "en", "de")


def test_streaming_training_resumes_exactly(tmp_path):
    from nmt.trainer import train

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(write_synthetic_corpus(tmp_path) + "train:\n  max_steps: 12\n  valid_every: 6\n  log_every: 1\n"
                   "  batch_tokens: 128\n  threads: 1\n")
    stream = ["data.streaming=true", "data.buffer_pairs=64"]
    straight = train(cfg, stream, run_dir=tmp_path / "straight")
    assert straight.steps == 12
    train(cfg, [*stream, "train.max_steps=5"], run_dir=tmp_path / "split")  # stops mid-epoch, inside a buffer
    assert train(cfg, ["train.max_steps=12"], resume=True, run_dir=tmp_path / "split").steps == 12
    a, b = step_losses(tmp_path / "straight"), step_losses(tmp_path / "split")
    assert sorted(a) == list(range(1, 13)) and a == b  # the resumed run saw the same batches
