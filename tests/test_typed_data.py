"""Data that covers what people type: casual-typing copies (the same in the Arrow and the streaming stores and in
what SentencePiece learns from), the Ding dictionary as phrase pairs, extra corpora mixed into training, and the
phrase check set."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nmt import corpora
from nmt.augment import Augment
from nmt.config import DataConfig, ExtraData, load_config
from nmt.corpora import extra_pairs, load_splits
from nmt.data import casual_copies
from nmt.ding import entry_pairs, synonyms
from nmt.errors import NmtError
from nmt.pairs import ArrowPairs, StreamPairs
from nmt.phrases import normal, phrase_score, read_phrases
from nmt.prepare import training_text
from tests.conftest import SHARED_DATA, write_synthetic_corpus
from tests.test_pairs import WordTokenizer

PAIRS = [("Hello there!", "Hallo!"), ("Where is the station?", "Wo ist der Bahnhof?"), ("Good night.", "Gute Nacht."),
         ("I see", "Ich sehe"), ("Thank you very much!", "Vielen Dank!"), ("Tom is here.", "Tom ist hier.")] * 5
PAIRS = [(a.replace(" ", f" {i} ", 1), b) for i, (a, b) in enumerate(PAIRS)]  # distinct sources: distinct draws


def test_casual_copies_drop_the_final_mark_or_lower_the_first_letter_on_the_source_only():
    assert list(casual_copies(PAIRS, 0.0)) == PAIRS
    out = list(casual_copies(PAIRS, 1.0))
    copies = [pair for pair in out if pair not in PAIRS]
    assert len(out) > len(PAIRS) and copies
    originals = dict(PAIRS)
    for src, tgt in copies:
        assert src[-1] not in ".!?" or src[0].islower()
        assert tgt in originals.values()  # the German side is never changed
    kinds = {(src[-1] in ".!?", src[0].islower()) for src, _ in copies}
    assert kinds == {(False, False), (True, True), (False, True)}  # no mark, lowercase, both
    both = [pair for pair in casual_copies(PAIRS, 1.0, "both") if pair not in PAIRS]
    assert any(tgt[-1] not in ".!?" for _, tgt in both)  # the target lost its mark with the source's
    assert list(casual_copies(PAIRS, 0.3)) == list(casual_copies(PAIRS, 0.3))  # the same pairs every time
    assert 0 < len(list(casual_copies(PAIRS, 0.3))) - len(PAIRS) < len(copies)


def test_arrow_and_streaming_stores_train_on_the_same_casual_copies():
    from nmt.data import Parallel, as_table

    texts = Parallel([a for a, _ in PAIRS], [b for _, b in PAIRS])
    arrow = ArrowPairs.build(as_table(texts), WordTokenizer(), 50, 9.0, augment=Augment(casual=0.5))
    stream = StreamPairs(lambda: iter(PAIRS), WordTokenizer(), 50, 9.0, 1000, augment=Augment(casual=0.5))
    plain = ArrowPairs.build(as_table(texts), WordTokenizer(), 50, 9.0)

    def rows(store):
        return sorted((tuple(s), tuple(t)) for _, b in store.batches(10_000, seed=1) for s, t in
                      zip(b.src.tolist(), b.tgt_out.tolist()))

    assert len(arrow) > len(plain)
    assert rows(arrow) == rows(stream)


def test_sentencepiece_learns_from_the_casual_copies_too(tmp_path):
    cfg = load_config(None, ["data.corpus=null", f"data.train={tmp_path}/t.tsv", "data.casual=1.0",
                               "data.entities=0", "data.placeholders=0", "data.merge=0"])
    (tmp_path / "t.tsv").write_text("".join(f"{a}\t{b}\n" for a, b in PAIRS), encoding="utf-8")
    text = training_text(cfg.data)
    learned = list(text.tokenizer_pairs())
    assert any(src[0].islower() for src, _ in learned) and len(learned) > len(PAIRS)
    assert learned == list(casual_copies(PAIRS, 1.0))


# ---------------------------------------------------------------- ding

README_LINE = ("Hallo!; Moin! [Norddt.]; Servus! [Bayr.] [Ös.] {interj} | Hallo allerseits! | Hallo Alter! [ugs.] "
               ":: Hello!; Hi!; Hi there!; Hullo! [Br.] | Hello everybody! | Hi dude!")


def test_ding_lines_become_aligned_phrase_pairs_without_annotations():
    assert list(entry_pairs(README_LINE)) == [("Hallo!", "Hello!"), ("Hallo allerseits!", "Hello everybody!"),
                                              ("Hallo Alter!", "Hi dude!")]
    every = list(entry_pairs(README_LINE, all_synonyms=True))
    assert ("Servus!", "Hi there!") in every and ("Moin!", "Hullo!") in every and len(every) == 3 * 4 + 2
    assert list(entry_pairs("Aal {m} (auf der Speisekarte) [cook.] | Aale {pl} :: eel | eels")) == [
        ("Aal", "eel"), ("Aale", "eels")]
    assert synonyms("etw. ... machen; jdn. ~ lassen; Haus {n}") == ["Haus"]  # gaps and headword marks left out
    assert list(entry_pairs("# Version :: devel")) == []
    assert list(entry_pairs("A | B :: only one side")) == []  # sub-entries that do not align


def _ding_root(tmp_path: Path) -> str:
    (tmp_path / "ding").mkdir()
    (tmp_path / "ding" / "de-en.txt").write_text(f"# comment\n{README_LINE}\nGuten Morgen! :: Good morning!\n"
                                                 "Baum {m} | Bäume {pl} :: tree | trees\n", encoding="utf-8")
    return str(tmp_path)


def test_ding_is_a_named_corpus_in_either_direction(tmp_path):
    root = _ding_root(tmp_path)
    en_de = load_splits("ding", "en", "de", root).train
    assert ("Good morning!", "Guten Morgen!") in zip(en_de.src, en_de.tgt)
    de_en = load_splits("ding", "de", "en", root).train
    assert ("Guten Morgen!", "Good morning!") in zip(de_en.src, de_en.tgt)
    with pytest.raises(NmtError, match="German-English"):
        load_splits("ding", "en", "fr", root)


def test_missing_ding_says_how_to_get_it_and_debians_copy_is_found(tmp_path, monkeypatch):
    monkeypatch.setattr(corpora, "data_roots", lambda root: [tmp_path / "nowhere"])
    monkeypatch.setattr("nmt.ding.DEBIAN_PATH", tmp_path / "missing")
    with pytest.raises(NmtError, match="apt-get install trans-de-en") as info:
        load_splits("ding", "en", "de", None)
    assert "\n" not in str(info.value)
    debian = Path(_ding_root(tmp_path)) / "ding" / "de-en.txt"
    monkeypatch.setattr("nmt.ding.DEBIAN_PATH", debian)
    assert len(load_splits("ding", "en", "de", None).train) == 6


@pytest.mark.skipif(not (SHARED_DATA / "ding" / "de-en.txt").is_file(), reason="../shared/data/ding is absent")
def test_the_real_dictionary_has_the_greetings_people_type():
    data = load_splits("ding", "en", "de", str(SHARED_DATA)).train
    pairs = set(zip(data.src, data.tgt))
    assert {("Hello!", "Hallo!"), ("Good morning!", "Guten Morgen!"), ("Good night!", "Gute Nacht!")} <= pairs
    assert len(data) > 300_000


# ---------------------------------------------------------------- extra corpora


def test_extra_corpora_are_filtered_sampled_and_weighted(tmp_path):
    root = _ding_root(tmp_path)
    everything = extra_pairs([ExtraData("ding")], "en", "de", root)
    assert len(everything) == 6
    sentences = extra_pairs([ExtraData("ding", kind="sentences")], "en", "de", root)
    assert all(s[-1] == "!" for s in sentences.src) and len(sentences) == 4
    terms = extra_pairs([ExtraData("ding", kind="terms", weight=3)], "en", "de", root)
    assert terms.src == ["tree", "trees"] * 3
    short = extra_pairs([ExtraData("ding", max_words=1)], "en", "de", root)
    assert set(short.src) == {"Hello!", "tree", "trees"}
    sample = extra_pairs([ExtraData("ding", max_pairs=2)], "en", "de", root)
    assert len(sample) == 2 and sample.src == extra_pairs([ExtraData("ding", max_pairs=2)], "en", "de", root).src
    (tmp_path / "more.tsv").write_text("a b\tc d\n", encoding="utf-8")
    assert extra_pairs([ExtraData(str(tmp_path / "more.tsv"))], "en", "de", root).tgt == ["c d"]


@pytest.mark.parametrize("streaming", [False, True])
def test_extra_pairs_join_the_training_data_only(tmp_path, streaming):
    write_synthetic_corpus(tmp_path)
    data = DataConfig(corpus=None, train=f"{tmp_path}/train", valid=f"{tmp_path}/valid", root=_ding_root(tmp_path),
                      streaming=streaming, extra=[ExtraData("ding", weight=2)])
    text = training_text(data)
    pairs = list(text.open_pairs())
    assert pairs.count(("Good morning!", "Guten Morgen!")) == 2 and len(pairs) == 300 + 2 * 6
    assert "Good morning!" not in text.splits.valid.src


def test_an_extra_corpus_is_checked_at_load(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data:\n  extra:\n    - corpus: ding\n      weight: 0\n")
    with pytest.raises(NmtError, match=r"data.extra\[0\].weight: must be at least 1"):
        load_config(cfg)
    cfg.write_text("data:\n  extra:\n    - corpus: ding\n      maxpairs: 3\n")
    with pytest.raises(NmtError, match=r"did you mean 'data.extra\[0\].max_pairs'"):
        load_config(cfg)


# ---------------------------------------------------------------- phrases


def test_the_shipped_phrase_set_is_typed_as_people_type():
    phrases = read_phrases("phrases-en-de.tsv")
    assert len(phrases) >= 40
    assert all(p.src[-1] not in ".!?" for p in phrases)
    assert "Hello" in [p.src for p in phrases]


def test_a_phrase_is_right_when_it_matches_an_accepted_translation_loosely():
    phrases = read_phrases("phrases-en-de.tsv")[:3]  # Hello, hello, Hi
    assert normal("  Wie geht's, dir? ") == normal("wie gehts dir")
    result = phrase_score(lambda lines: ["Hallo!", "Er wird.", "hallo"], phrases)
    assert (result["right"], result["total"]) == (2, 3) and result["misses"] == [{"src": "hello", "hyp": "Er wird."}]


def test_a_malformed_phrase_file_names_the_line(tmp_path):
    bad = tmp_path / "p.tsv"
    bad.write_text("# c\nHello\tHallo\nno translation\n", encoding="utf-8")
    with pytest.raises(NmtError, match=r"p.tsv: line 3: expected phrase<TAB>accepted"):
        read_phrases(str(bad))


def test_validation_and_eval_report_the_phrase_score(tmp_path):
    from nmt.cli import app
    from nmt.trainer import train

    (tmp_path / "p.tsv").write_text("w1 w2\tw2x w1x\nw3\tw3x\n", encoding="utf-8")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(write_synthetic_corpus(tmp_path).replace("data:\n", f"data:\n  phrases: {tmp_path}/p.tsv\n")
                   + "train:\n  max_steps: 4\n  valid_every: 4\n")
    run = train(cfg, run_dir=tmp_path / "run").run_dir
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert any("valid_phrases" in r for r in records)
    result = CliRunner().invoke(app, ["eval", "--run", str(run), "--beam", "1"])
    assert result.exit_code == 0, result.output
    assert "phrases (data.phrases):" in result.output and "/2 right" in result.output


def test_a_corpus_named_by_several_extra_entries_is_read_once(tmp_path, monkeypatch):
    root, calls = _ding_root(tmp_path), []
    real = corpora.NAMED["ding"]
    monkeypatch.setitem(corpora.NAMED, "ding", lambda *a, **k: calls.append(1) or real(*a, **k))
    out = extra_pairs([ExtraData("ding", kind="sentences"), ExtraData("ding", kind="terms")], "en", "de", root)
    assert len(calls) == 1 and len(out) == 6


def test_raw_and_cleaned_text_get_the_same_casual_copies():
    raw = [(a.replace(" ", "  ", 1), b) for a, b in PAIRS]
    picked = [i for i, (a, _) in enumerate(raw) if len(list(casual_copies([(a, "x")], 0.5))) == 2]
    assert picked == [i for i, (a, _) in enumerate(PAIRS) if len(list(casual_copies([(a, "x")], 0.5))) == 2]
    assert picked
