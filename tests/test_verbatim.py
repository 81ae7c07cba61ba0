"""Verbatim spans (nmt/verbatim.py) and their way through a model (nmt/translate.py): numbers, addresses, codes
come out as typed, no number is invented."""

import re

import pytest
import torch

from nmt.config import DecodeConfig, TokenizerConfig
from nmt.model import Transformer
from nmt.tokenizer import train_tokenizer
from nmt.translate import translate_lines
from nmt.verbatim import mask, spans
from tests.conftest import tiny_model_config

LINES = [
    ("I paid 249 euros for 3 tickets.", ["249", "3"]),
    ("Send the file to anna.berger@example.org today.", ["anna.berger@example.org"]),
    ("See https://example.com/docs/a.html?x=1. Then go.", ["https://example.com/docs/a.html?x=1"]),
    ("Error E404 at 10:30 in version 2.0.1, code Xq7-Lm2.", ["E404", "10:30", "2.0.1", "Xq7-Lm2"]),
    ("The 4th time: $45, 3.5 km, 1,000,000 people.", ["4th", "$45", "3.5", "1,000,000"]),
    ("Type `git status` in /etc/hosts or ~/notes/a.txt or C:\\Users\\anna\\b.txt.",
     ["`git status`", "/etc/hosts", "~/notes/a.txt", "C:\\Users\\anna\\b.txt"]),
    ("Call +49 30 1234567 or read report_2024.pdf.", ["+49 30 1234567", "report_2024.pdf"]),
]


@pytest.mark.parametrize("text,expected", LINES)
def test_each_kind_of_span_is_found_masked_and_restored_exactly(text, expected):
    assert spans(text) == expected
    masked = mask(text)
    assert not any(c.isdigit() for c in re.sub(r"⟦\d+⟧", "", masked.text))  # no digit reaches the model
    assert masked.restore(masked.text) == (text, [])


def test_a_placeholder_typed_by_the_user_comes_back_as_typed():
    text = "Typed ⟦1⟧ and ⟦2 and ⟧ here, with 7."
    masked = mask(text)
    assert masked.restore(masked.text)[0] == text
    swapped = masked.text.replace("⟦1⟧", "@").replace("⟦2⟧", "⟦1⟧").replace("@", "⟦2⟧")
    assert masked.restore(swapped)[0] == "Typed ⟦2 and ⟦1⟧ and ⟧ here, with 7."  # one pass: values never re-read


def test_a_lost_placeholder_is_appended_and_reported_an_unknown_one_dropped():
    masked = mask("I paid 249 euros for 3 tickets.")
    assert masked.restore("Ich habe ⟦1⟧ Euro bezahlt ⟦9⟧.") == ("Ich habe 249 Euro bezahlt . 3", ["3"])


@pytest.fixture(scope="module")
def digit_model():
    """A tokenizer with the placeholders and an untrained model: left alone it writes whatever it likes."""
    words = "I paid euros for tickets the room costs per night we need chairs and tables".split()
    lines = [" ".join(words[(i * 7 + j) % len(words)] for j in range(6)) + f" {i * 37 % 1000} {i % 10}."
             for i in range(300)]
    tok = train_tokenizer(TokenizerConfig(vocab_size=150), [(x, x) for x in lines], seed=1)
    torch.manual_seed(3)
    model = Transformer(tiny_model_config(), tok.src_vocab_size, tok.tgt_vocab_size).eval()
    with torch.no_grad():  # make digits likely: the model "would change" any number
        model.output.weight[torch.tensor(tok.digit_pieces)] *= 4
    return model, tok


def test_a_number_survives_a_model_that_would_change_it(digit_model):
    model, tok = digit_model
    line = "I paid 249 euros for 3 tickets."
    for beam in (1, 4):
        decode = DecodeConfig(beam_size=beam, max_len_a=2.0)
        out = translate_lines(model, tok, [line], decode, torch.device("cpu"))[0][0].text
        assert sorted(re.findall(r"\d+", out)) == ["249", "3"], out  # kept, and no other number
        off = translate_lines(model, tok, [line], decode.override({"verbatim": False}), torch.device("cpu"))
        assert sorted(re.findall(r"\d+", off[0][0].text)) != ["249", "3"]  # without it, the model changes them


def test_a_repeated_or_unknown_placeholder_is_dropped_with_its_space():
    masked = mask("I paid 249 euros.")
    assert masked.restore("⟦1⟧ ⟦1⟧ Euro ⟦7⟧ bezahlt.") == ("249 Euro bezahlt.", [])
    assert masked.restore("Ich habe ⟦1⟧Euro bezahlt.")[0] == "Ich habe 249 Euro bezahlt."  # kept apart


SOURCE_WORDS = {"lives", "in", "with", "his", "sister", "may", "i", "come", "speak", "and", "on", "we", "fly",
                "to", "Boston", "Berlin", "Germany", "French", "Friday", "Maria", "EU", "May"}
TARGET_WORDS = {"Boston", "Maria", "EU"}


def known(word: str) -> bool:
    return word in SOURCE_WORDS


def copied(word: str) -> bool:
    return word in TARGET_WORDS


@pytest.mark.parametrize("text,names", [
    ("Maria lives in Boston with his sister Julia.", ["Maria", "Boston", "Julia"]),  # the target writes alike
    ("I speak French and Germany on Friday.", []),  # known words the target translates (a language, a surname too)
    ("We fly to Berlin.", ["Berlin"]),  # a German town, though only the source vocabulary knows it
    ("May I come to Leipzig with Dr Anna?", ["Leipzig", "Anna"]),  # unknown word; a person's name; not titles
    ("Leipzig is big and LH flies to the EU.", ["LH"]),  # unknown word first in a sentence; a known acronym
])
def test_names_the_model_would_not_copy_are_spans_and_known_translated_words_are_not(text, names):
    masked = mask(text, known=known, copied=copied)
    assert list(masked.values) == names
    assert masked.restore(masked.text) == (text, [])


def test_with_one_shared_vocabulary_a_known_word_is_a_span_only_as_a_name_faker_knows():
    assert list(mask("We fly to Boston with Maria.", known=known).values) == ["Maria"]
