"""Real text through translation (nmt/realtext.py and its callers): sentences in, the layout out, n-best, alignment
and glossaries across the parts, the check at translate time, the real-text check set."""

import json

import pytest
from typer.testing import CliRunner

from nmt.cli import app
from nmt.phrases import read_phrases, read_realtext, realtext_score
from nmt.realtext import Translation, check, finish, prepare
from nmt.translate import Translator

runner = CliRunner()


def upper(inputs):
    """A stand-in engine: each model input "translated" to upper case, two hypotheses each."""
    return [[Translation(x.upper(), -1.0, -2.0), Translation(x.upper() + "!", -3.0, -4.0)] if x else []
            for x in inputs]


def test_a_three_sentence_line_gives_three_translations_joined_by_its_gaps():
    text = "Hello.  How are you?\tI am fine."
    prep = prepare([text], "en")
    assert prep.inputs == ["Hello.", "How are you?", "I am fine."]
    assert finish(prep, upper(prep.inputs))[0][0].text == "HELLO.  HOW ARE YOU?\tI AM FINE."


def test_n_best_across_sentences_joins_the_kth_hypotheses_and_sums_their_scores():
    prep = prepare(["One. Two.", "Three."], "en")
    first, second = finish(prep, upper(prep.inputs))
    assert [t.text for t in first] == ["ONE. TWO.", "ONE.! TWO.!"]
    assert first[0].score == -2.0 and first[1].log_prob == -8.0
    assert [t.text for t in second] == ["THREE.", "THREE.!"]


def test_spans_are_masked_for_the_model_and_restored_after_it():
    prep = prepare(["I paid 249 euros. Mail anna@example.org!"], "en", protect=True)
    assert prep.inputs == ["I paid ⟦1⟧ euros.", "Mail ⟦1⟧!"]
    assert finish(prep, upper(prep.inputs))[0][0].text == "I PAID 249 EUROS. MAIL anna@example.org!"


def test_a_unit_without_words_is_copied_as_it_is():
    lines = ["https://example.com/x", "...!!!", "E404: 10:30"]
    prep = prepare(lines, "en", protect=True)
    assert prep.inputs == ["", "", ""]
    assert [nbest[0].text for nbest in finish(prep, [[], [], []])] == lines


def test_check_flags_a_lost_span_a_lost_sentence_and_a_loop():
    assert check("I paid 249 euros.", "Ich habe 249 Euro bezahlt.", "en", "de") == []
    assert check("I paid 249 euros.", "Ich habe 2440 Euro bezahlt.", "en", "de") == ["lost: 249"]
    assert check("Hello. How are you?", "Hallo!", "en", "de") == ["sentences: 2 in, 1 out"]
    assert check("The train line.", "Der Zug zwischen zwischen zwischen zwischen.", "en", "de")[0].startswith(
        "repeats: 'zwischen")


def test_the_real_text_check_set_scores_lines_spans_and_sentences():
    lines = read_realtext("realtext-en.tsv", "en")
    assert len(lines) >= 80 and sum(len(x.src.split()) >= 25 for x in lines) >= 20
    assert sum(x.sentences > 1 for x in lines) >= 15 and sum(len(x.spans) for x in lines) >= 80
    perfect = realtext_score(lambda src: src, lines, "en")  # the source itself keeps everything
    assert (perfect["whole"], perfect["spans"], perfect["sentences"]) == (100.0, 100.0, 100.0)
    first_only = realtext_score(lambda src: [s.split(". ")[0] for s in src], lines, "en")
    assert first_only["sentences"] < 100 and first_only["whole"] < 100 and first_only["misses"]


def test_a_check_set_for_other_languages_is_an_error_naming_its_key():
    from nmt.errors import NmtError

    with pytest.raises(NmtError, match="data.phrases: .* is for languages en-de, this run's are en-fr"):
        read_phrases("phrases-en-de.tsv", "en-fr")
    with pytest.raises(NmtError, match="data.realtext: .* is for source en, this run's are de"):
        read_realtext("realtext-en.tsv", "de")


@pytest.fixture
def translator(synth_run):
    return Translator.load(synth_run)


def test_several_sentences_reach_the_model_one_by_one_and_come_back_whole(translator):
    line = "w1 w2. w3 w4 w5.  w6"
    found = translator.search([line])
    assert found.prep.inputs == ["w1 w2.", "w3 w4 w5.", "w6"]
    alone = [translator([s])[0] for s in found.prep.inputs]
    assert translator([line])[0] == f"{alone[0]} {alone[1]}  {alone[2]}"
    assert translator([line], split_sentences=False)[0] == translator.translate([line], split_sentences=False)[0][
        0].text


def test_alignment_and_attention_cover_every_part(translator):
    from nmt.attention_maps import explain

    line = "w1 w2. w3 w4 w5."
    item = explain(translator, [line])[0]
    assert len(item.maps) == 2 and item.translation == translator([line])[0]
    n_src, n_tgt = len(line.split()), len(item.translation.split())
    assert {s for s, _ in item.alignment} <= set(range(n_src)) and {t for _, t in item.alignment} == set(
        range(n_tgt))
    second = explain(translator, ["w3 w4 w5."])[0]
    first_words = len(explain(translator, ["w1 w2."])[0].translation.split())
    assert [(s - 2, t - first_words) for s, t in item.alignment if s >= 2] == second.alignment  # shifted


def test_glossary_terms_apply_within_their_sentence(translator):
    line = "w1 w2. w3 w4."
    out = translator([line], glossary={"w3": "w9x"})[0]
    assert "w9x" in out.split(". ")[-1] or out.endswith("w9x") or "w9x" in out


def test_translate_check_flags_doubtful_lines_on_stderr(synth_run, tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("w1 w2\nw3. w4. w5. w6. w7. w8.\n", encoding="utf-8")
    result = runner.invoke(app, ["translate", "--run", str(synth_run), "-i", str(src), "--check", "--no-split"])
    assert result.exit_code == 0, result.output
    assert "check: line 2: " in result.stderr and "sentences: 6 in, 1 out" in result.stderr


def test_server_answers_carry_warnings(synth_run):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from nmt.serve import TranslatorEngine, create_app

    with TestClient(create_app(TranslatorEngine(Translator.load(synth_run)))) as client:
        items = client.post("/translate", json={"text": ["w1 w2", "w3 249"]}).json()["translations"]
        assert all(isinstance(item["warnings"], list) for item in items)
        libre = client.post("/translate", json={"q": "w1 w2", "source": "en", "target": "de"}).json()
        assert "warnings" in libre and json.dumps(libre)
