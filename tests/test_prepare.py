"""Preparing a run's training data: SentencePiece, cleaning and filtering counts, what is refused."""

from collections import Counter

import pytest
from rich.console import Console

from nmt.config import load_config
from nmt.errors import NmtError
from nmt.prepare import prepare
from nmt.tokenizer import Tokenizer
from nmt.trainer import train
from tests.conftest import write_synthetic_corpus


def test_prepare_trains_sentencepiece_once_and_cleans_validation(tmp_path):
    (tmp_path / "cfg.yaml").write_text(write_synthetic_corpus(tmp_path))
    with open(tmp_path / "valid.en", "a", encoding="utf-8") as f:
        f.write("  w1   w2  \n")  # whitespace to clean
    with open(tmp_path / "valid.de", "a", encoding="utf-8") as f:
        f.write("\n")  # an empty target side: dropped from validation
    cfg = load_config(tmp_path / "cfg.yaml")
    console = Console(record=True, width=200)
    run = tmp_path / "run"
    run.mkdir()
    first = prepare(cfg.data, cfg.tokenizer, cfg.model, run, 1, console)
    assert Tokenizer.exists(run) and "training SentencePiece" in console.export_text()
    assert len(first.valid) == 30 and all(s == " ".join(s.split()) for s in first.valid.src)
    assert len(first.train) == 300 and first.train.drops == Counter()
    again = prepare(cfg.data, cfg.tokenizer, cfg.model, run, 1, Console(record=True))
    assert again.tok.src.serialized_model_proto() == first.tok.src.serialized_model_proto()  # loaded, not retrained




def test_every_pair_filtered_out_names_the_fix(tmp_path):
    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(write_synthetic_corpus(tmp_path).replace("data:\n", "data:\n  max_tokens: 1\n"))
    with pytest.raises(NmtError, match="every training pair was filtered out.*raise data.max_tokens"):
        train(cfg_path, run_dir=tmp_path / "run")
