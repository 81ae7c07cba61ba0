"""Reading parallel data in every supported format, cleaning with counts, token-budget batches."""

import json
from collections import Counter

import pytest

from nmt.constants import BOS_ID, EOS_ID, PAD_ID
from nmt.data import Parallel, clean_text, collate, read_parallel, token_batches
from nmt.errors import NmtError


def test_prefix_tsv_and_jsonl_read_the_same_pairs(tmp_path):
    src, tgt = ["a b", "", "c"], ["x", "y y", "z"]
    (tmp_path / "p.en").write_text("\n".join(src) + "\n", encoding="utf-8")
    (tmp_path / "p.de").write_text("\n".join(tgt) + "\n", encoding="utf-8")
    (tmp_path / "p.tsv").write_text("".join(f"{a}\t{b}\n" for a, b in zip(src, tgt)), encoding="utf-8")
    (tmp_path / "p.jsonl").write_text("".join(json.dumps({"translation": {"en": a, "de": b}}) + "\n"
                                              for a, b in zip(src, tgt)), encoding="utf-8")
    for spec in ("p", "p.tsv", "p.jsonl"):
        data = read_parallel(str(tmp_path / spec), "en", "de")
        assert (data.src, data.tgt) == (src, tgt), spec


def test_line_count_mismatch_names_both_files(tmp_path):
    (tmp_path / "p.en").write_text("a\nb\n", encoding="utf-8")
    (tmp_path / "p.de").write_text("a\n", encoding="utf-8")
    with pytest.raises(NmtError, match=r"p\.en has 2 lines but .*p\.de has 1"):
        read_parallel(str(tmp_path / "p"), "en", "de")


def test_bad_utf8_names_file_and_line(tmp_path):
    (tmp_path / "p.en").write_bytes(b"ok\nfine\n\xff\xfe bad\n")
    (tmp_path / "p.de").write_text("a\nb\nc\n", encoding="utf-8")
    with pytest.raises(NmtError, match=r"p\.en: line 3: not UTF-8"):
        read_parallel(str(tmp_path / "p"), "en", "de")


def test_tsv_without_tab_names_line(tmp_path):
    (tmp_path / "p.tsv").write_text("a\tb\nno tab here\n", encoding="utf-8")
    with pytest.raises(NmtError, match=r"p\.tsv: line 2: no tab"):
        read_parallel(str(tmp_path / "p.tsv"), "en", "de")


def test_empty_and_missing_files(tmp_path):
    (tmp_path / "e.tsv").write_text("", encoding="utf-8")
    with pytest.raises(NmtError, match="empty"):
        read_parallel(str(tmp_path / "e.tsv"), "en", "de")
    with pytest.raises(NmtError, match="not found"):
        read_parallel(str(tmp_path / "missing.tsv"), "en", "de")


def test_jsonl_missing_language(tmp_path):
    (tmp_path / "p.jsonl").write_text(json.dumps({"translation": {"en": "a", "fr": "b"}}) + "\n", encoding="utf-8")
    with pytest.raises(NmtError, match="row 1"):
        read_parallel(str(tmp_path / "p.jsonl"), "en", "de")


def test_cleaning_counts_what_it_drops():
    drops: Counter = Counter()
    data = clean_text(Parallel([" a  b ", "", "c", "d"], ["x", "y", "  ", "z"]), drops)
    assert (data.src, data.tgt) == (["a b", "d"], ["x", "z"]) and drops["empty side"] == 2


def test_token_batches_respect_budget_and_cover_everything_once():
    src = [3 + (i * 7) % 20 for i in range(500)]
    tgt = [2 + (i * 5) % 25 for i in range(500)]
    batches = [b.tolist() for b in token_batches(src, tgt, 256, seed=3)]
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(500))
    for b in batches:
        assert len(b) * max(max(src[i], tgt[i] + 1) for i in b) <= 256
    assert batches == [b.tolist() for b in token_batches(src, tgt, 256, seed=3)]  # reproducible
    assert batches != [b.tolist() for b in token_batches(src, tgt, 256, seed=4)]  # and different per epoch seed
    # sorted by length: little padding
    padded = sum(len(b) * max(tgt[i] + 1 for i in b) for b in batches)
    assert sum(t + 1 for t in tgt) / padded > 0.9


def test_collate_shifts_target():
    batch = collate([[7, 8, EOS_ID], [9, EOS_ID]], [[10, 11], [12]])
    assert batch.tgt_in.tolist() == [[BOS_ID, 10, 11], [BOS_ID, 12, PAD_ID]]
    assert batch.tgt_out.tolist() == [[10, 11, EOS_ID], [12, EOS_ID, PAD_ID]]
    assert batch.src.tolist() == [[7, 8, EOS_ID], [9, EOS_ID, PAD_ID]]
    assert batch.tgt_tokens == 5


def test_hub_dataset_in_translation_convention(monkeypatch):
    import datasets

    calls = []

    def fake_load(name, config=None, split=None):
        calls.append((name, config, split))
        return datasets.Dataset.from_dict({"translation": [{"en": "a", "de": "b"}, {"en": "c", "de": "d"}]})

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    data = read_parallel("hub:wmt16/de-en", "en", "de", "validation")
    assert (data.src, data.tgt) == (["a", "c"], ["b", "d"])
    assert calls == [("wmt16", "de-en", "validation")]
