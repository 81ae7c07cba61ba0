"""Sentences with their gaps (nmt/segment.py): splitting, the layout put back, long sentences cut, never lost."""

import pytest

from nmt.segment import cut, split
from tests.conftest import SHARED_DATA, needs_shared


def test_three_sentences_come_back_joined_by_the_sources_own_gaps():
    text = "  Hello.  How are you?\tI am fine, thank you.\r\n"
    seg = split(text, "en")
    assert seg.pieces() == ["Hello.", "How are you?", "I am fine, thank you."]
    assert seg.join(["Hallo.", "Wie geht es dir?", "Mir geht es gut, danke."]) == \
        "  Hallo.  Wie geht es dir?\tMir geht es gut, danke.\r\n"


@pytest.mark.parametrize("lang,text,expected", [
    ("en", "Mr. Schmidt paid 3.5 euros, e.g. at 10 a.m. today. Then he left.", 2),
    ("de", "Das ist z. B. gut. Herr Dr. Meier kommt am 3. Mai.", 2),
    ("en", "Send it to anna@example.org. See https://example.com/a.b?c=1. Thanks!", 3),
])
def test_abbreviations_numbers_and_addresses_do_not_split(lang, text, expected):
    seg = split(text, lang)
    assert len(seg.units) == expected
    assert seg.join(seg.pieces()) == text


def test_a_newline_always_ends_a_unit_and_no_split_keeps_one_unit_per_line():
    text = "One. Two.\nThree"
    assert split(text, "en").pieces() == ["One.", "Two.", "Three"]
    assert split(text, "en", sentences=False).pieces() == ["One. Two.", "Three"]


def test_a_language_without_rules_falls_back_with_one_warning(capsys):
    assert split("One. Two.", "not a language!").pieces() == ["One.", "Two."]
    split("Three. Four.", "not a language!")
    assert capsys.readouterr().err.count("warning:") == 1


def test_a_long_sentence_is_cut_at_its_best_breaks_and_nothing_is_lost():
    text = "The first part runs on and on, the second part too; and then a third part follows it here"
    seg = cut(split(text, "en"), lambda piece: len(piece) > 40)
    pieces = seg.pieces()
    assert all(len(p) <= 40 for p in pieces) and len(pieces) >= 3
    assert pieces[0].endswith(",") or pieces[0].endswith(";")  # punctuation before plain spaces
    assert " ".join(pieces) == text and seg.sentences == 1  # the parts are one sentence
    assert seg.join(pieces) == text


def test_ten_thousand_characters_without_a_sentence_end_or_a_space_are_cut_evenly():
    text = "x" * 10_000
    seg = cut(split(text, "en"), lambda piece: len(piece) > 300)
    assert "".join(seg.pieces()) == text and all(len(p) <= 300 for p in seg.pieces())
    words = " ".join(f"word{i}" for i in range(2000))  # 10,000+ characters, no sentence end
    seg = cut(split(words, "en"), lambda piece: len(piece.split()) > 50)
    assert seg.join(seg.pieces()) == words and all(len(p.split()) <= 50 for p in seg.pieces())


def test_punctuation_only_emoji_and_mixed_scripts_lose_nothing():
    for text in ["...!!!", "Grüße 😀 aus Köln. Ça va? 日本語です。", "\u200b", "   "]:
        seg = split(text, "en")
        assert seg.join(seg.pieces()) == text


@needs_shared
@pytest.mark.parametrize("lang", ["en", "de"])
def test_multi30k_test_lines_are_one_unit_each_so_they_decode_exactly_as_before(lang):
    from nmt.realtext import prepare

    lines = (SHARED_DATA / "multi30k" / f"test_2016_flickr.{lang}").read_text(encoding="utf-8").splitlines()
    assert prepare(lines, lang, split_sentences=True).inputs == lines
