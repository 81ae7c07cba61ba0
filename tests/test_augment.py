"""Training-data augmentation (nmt/augment.py): copying taught by swapped entities and placeholders, merged
lines; the same pairs for every reader."""

import re

from nmt.augment import Augment, entities, placeholders, spelled_to_digits
from nmt.verbatim import PLACEHOLDER

PAIRS = [("Tom lives in Boston.", "Tom wohnt in Boston."),
         ("I paid 249 euros for 3 tickets.", "Ich habe 249 Euro für 3 Karten bezahlt."),
         ("I have three cats.", "Ich habe drei Katzen."),
         ("Write to anna@example.org.", "Schreib an anna@example.org."),
         ("Where is Mary?", "Wo ist Maria?"),
         ("Hello.", "Hallo."), ("Hello.", "Guten Tag."), ("Thanks.", "Danke.")] * 40


def test_a_shared_name_and_number_are_swapped_alike_on_both_sides():
    import random

    src, tgt = entities("Tom paid 249 euros in Boston.", "Tom hat in Boston 249 Euro bezahlt.", random.Random(1))
    name, number = src.split()[0], re.search(r"\d+(?:\.\d+)?", src).group()
    assert name != "Tom" and number != "249" and "Boston" not in src
    assert tgt.startswith(name + " ") and number in tgt and src.split()[-1].rstrip(".") in tgt
    assert entities("Where is Mary?", "Wo ist Maria?", random.Random(1)) == ("Where is Mary?", "Wo ist Maria?")


def test_placeholders_number_spans_in_source_order_on_both_sides():
    import random

    src, tgt = placeholders("I paid 249 euros for 3 tickets, 3 each.", "Ich habe 249 Euro für 3 Karten bezahlt, je 3.",
                            random.Random(0))
    assert src == "I paid ⟦1⟧ euros for ⟦2⟧ tickets, ⟦3⟧ each."
    assert tgt == "Ich habe ⟦1⟧ Euro für ⟦2⟧ Karten bezahlt, je ⟦3⟧."
    # a span the target does not hold as typed (3.5 -> 3,5): the pair is left alone
    pair = ("It is 3.5 km.", "Es sind 3,5 km.")
    assert placeholders(*pair, random.Random(0)) == pair


def test_spelled_numbers_on_both_sides_become_digits():
    assert spelled_to_digits("I have three cats.", "Ich habe drei Katzen.", "en", "de") == \
        ("I have 3 cats.", "Ich habe 3 Katzen.")
    assert spelled_to_digits("I have three cats.", "Ich habe Katzen.", "en", "de") == \
        ("I have three cats.", "Ich habe Katzen.")


def test_augmentation_is_the_same_for_every_reader_and_takes_its_shares():
    augment = Augment(entities=0.5, placeholders=0.5, merge=0.2, casual=0.0)
    once, again = list(augment(PAIRS)), list(augment(iter(PAIRS)))
    assert once == again  # SentencePiece and every tokenizing process see the same pairs
    assert any(PLACEHOLDER.search(s) for s, _ in once)
    for src, tgt in once:  # placeholders always come in matching sets
        assert sorted(PLACEHOLDER.findall(src)) == sorted(PLACEHOLDER.findall(tgt))
    merged = [s for s, _ in once if s.count(".") + s.count("?") >= 2]
    assert merged and all("Hello. Hello." not in s for s in merged)  # never one source's translations joined
    assert len(once) < len(PAIRS)
    assert list(Augment()(PAIRS)) == PAIRS  # all shares 0: the pairs as they are
