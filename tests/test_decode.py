"""Decoding for real use: glossary terms forced by constrained beam search, sampling, the one decode-settings path."""

import pytest
import torch
from typer.testing import CliRunner

from nmt.cli import app
from nmt.config import DecodeConfig
from nmt.constants import EOS_ID, PAD_ID
from nmt.constrained import Progress, constrained_beam_search
from nmt.data import pad
from nmt.errors import NmtError
from nmt.glossary import read_glossary, terms_in
from nmt.search import greedy_search, sample_search
from nmt.translate import Translator
from tests.conftest import random_sources

runner = CliRunner()
# source word -> a target the synthetic run never produces for it (it learns "wNx" for "wN")
GLOSSARY = {"w1": "w17x w18x", "w2 w3": "w9x", "w4": "w25x w26x w27x"}


def test_every_glossary_term_appears_and_other_lines_are_untouched(synth_run):
    translator = Translator.load(synth_run)
    lines = ["w1 w5 w6", "w7 w8", "w2 w3 w10", "w11 w4 w12 w13", "w14 w15 w16", "w1 w4 w19"]
    plain = translator(lines, beam_size=3)
    forced = translator(lines, beam_size=3, glossary=GLOSSARY)
    for line, before, after in zip(lines, plain, forced):
        terms = terms_in(line, GLOSSARY)
        for term in terms:
            assert term not in before  # the test means something: the model does not say it unasked
            assert f" {term} " in f" {after} ", (line, after)
        if not terms:
            assert after == before  # lines without glossary terms are translated exactly as without one


def test_constraints_fit_even_when_the_model_would_end_first(reverse_model):
    model = reverse_model[0]
    src = pad([[4, 5, 6, 7, EOS_ID]])  # the model answers 7 6 5 4
    terms = [[15, 16], [17]]  # three tokens it has no reason to say
    best = constrained_beam_search(model, src, [terms], beam_size=3, max_len_a=1.0, max_len_b=4, n_best=2)[0]
    assert best and all(_contains(h.tokens, t) for h in best for t in terms)
    assert best[0].score >= best[-1].score


def test_sentences_searched_together_get_what_each_gets_alone(reverse_model):
    """Batched constrained search (k rows a sentence, dead rows at -inf, sentences leaving as they finish) gives
    every sentence the n-best it gets when searched by itself."""
    model = reverse_model[0]
    seqs = random_sources(6, vocab=18, lo=2, hi=7, seed=11)
    terms = [[[15, 16], [17]], [[5]], [[9, 4, 11]], [[16]], [[12], [13], [14]], [[8, 8]]]
    together = constrained_beam_search(model, pad(seqs), terms, beam_size=3, max_len_a=1.5, max_len_b=4, n_best=2)
    for seq, its_terms, found in zip(seqs, terms, together):
        alone = constrained_beam_search(model, pad([seq]), [its_terms], beam_size=3, max_len_a=1.5, max_len_b=4,
                                        n_best=2)[0]
        assert [h.tokens for h in found] == [h.tokens for h in alone]
        assert [h.score for h in found] == pytest.approx([h.score for h in alone], abs=1e-4)
        assert found and all(_contains(h.tokens, t) for h in found for t in its_terms)
    assert len({len(h[0].tokens) for h in together}) > 1  # sentences of different lengths, finishing apart


def test_a_glossary_too_long_for_the_length_limit_warns_and_does_not_hang(synth_run, capsys):
    translator = Translator.load(synth_run)
    long = {"w1": " ".join(f"w{i}x" for i in range(20))}
    plain = translator(["w1 w2"], beam_size=2, max_len_a=0.0, max_len_b=6)
    assert translator(["w1 w2"], beam_size=2, max_len_a=0.0, max_len_b=6, glossary=long) == plain
    err = capsys.readouterr().err
    assert "input line 1: the glossary's target terms" in err and "past the length limit of 6" in err


def test_progress_starts_a_left_term_over():
    terms = [[5, 6, 7], [9]]
    p = Progress((False, False)).advance(5, terms).advance(6, terms)
    assert (p.current, p.done, p.tokens_met(terms), p.wanted(terms), p.ended) == (0, 2, 2, [7], False)
    p = p.advance(8, terms)  # left half-way: starts over
    assert (p.current, p.tokens_met(terms), sorted(p.wanted(terms))) == (-1, 0, [5, 9])
    p = p.advance(9, terms).advance(5, terms).advance(6, terms).advance(7, terms)
    assert p.met == (True, True) and p.wanted(terms) == [] and p.tokens_met(terms) == 4 and p.ended


def test_terms_match_whole_words_ignoring_case_longest_first():
    glossary = {"red": "rot", "red car": "rotes Auto", "car": "Auto", "at": "bei"}
    assert terms_in("A Red car at the gate", glossary) == ["rotes Auto", "bei"]
    assert terms_in("cars in the great hall", glossary) == []


def test_glossary_files_are_read_and_bad_lines_named(tmp_path):
    good = tmp_path / "g.tsv"
    good.write_text("# terms\nhouse\tHaus\n\nred car\trotes Auto\n", encoding="utf-8")
    assert read_glossary(good) == {"house": "Haus", "red car": "rotes Auto"}
    bad = tmp_path / "bad.tsv"
    bad.write_text("house\tHaus\nno tab here\n", encoding="utf-8")
    with pytest.raises(NmtError, match=r"bad.tsv:2: expected 'source term<TAB>target term'"):
        read_glossary(bad)


def test_top_k_one_is_greedy_and_the_seed_reproduces(reverse_model):
    model = reverse_model[0]
    src = pad(random_sources(6, vocab=18, seed=4))
    greedy = greedy_search(model, src, 1.5, 4, 1)
    one = sample_search(model, src, 1, top_k=1, max_len_b=4, min_len=1, generator=torch.Generator().manual_seed(0))
    assert [s[0].tokens for s in one] == [h.tokens for h in greedy]

    def draw(seed: int) -> list[list[list[int]]]:
        found = sample_search(model, src, 3, top_p=0.95, temperature=1.5, max_len_b=4,
                              generator=torch.Generator().manual_seed(seed))
        return [[h.tokens for h in samples] for samples in found]

    assert draw(1) == draw(1)
    assert draw(1) != draw(2)


def test_top_k_never_emits_a_token_outside_the_k_most_likely(reverse_model):
    model = reverse_model[0]
    src = pad(random_sources(1, vocab=18, lo=5, hi=6, seed=5))
    with torch.no_grad():
        first = model.decode_step(torch.tensor([model.start_id]), model.init_cache(model.encode(src), 2))[0]
    first[[PAD_ID, model.start_id]] = float("-inf")  # never generated
    allowed = set(first.topk(3).indices.tolist())
    samples = sample_search(model, src, 300, top_k=3, temperature=10.0, max_len_b=4,
                            generator=torch.Generator().manual_seed(0))[0]
    emitted = {h.tokens[0] if h.tokens else EOS_ID for h in samples}
    assert emitted <= allowed and len(emitted) > 1  # hot enough to use more than the top one


@pytest.mark.parametrize("head", [256, 2])  # the nucleus within the sorted head, and reaching past it
def test_top_p_never_emits_a_token_outside_the_nucleus(reverse_model, monkeypatch, head):
    monkeypatch.setattr("nmt.search.NUCLEUS_SORTED", head)
    model = reverse_model[0]
    src = pad(random_sources(1, vocab=18, lo=5, hi=6, seed=5))
    with torch.no_grad():
        first = model.decode_step(torch.tensor([model.start_id]), model.init_cache(model.encode(src), 2))[0]
    first[[PAD_ID, model.start_id]] = float("-inf")  # never generated
    ranked, ids = (first / 4.0).softmax(dim=-1).sort(descending=True)
    nucleus = set(ids[ranked.cumsum(0) - ranked < 0.8].tolist())
    samples = sample_search(model, src, 300, top_p=0.8, temperature=4.0, max_len_b=4,
                            generator=torch.Generator().manual_seed(0))[0]
    emitted = {h.tokens[0] if h.tokens else EOS_ID for h in samples}
    assert emitted <= nucleus and len(emitted) > 2 and len(nucleus) < len(ids)


@pytest.mark.parametrize("args,needle", [
    (["--sampling", "topk:0"], "--sampling topk:0: 'topk:0': write none, topk:K"),
    (["--sampling", "topp:2"], "--sampling topp:2: 'topp:2': write none"),
    (["--sampling", "nucleus"], "write none, topk:K (K >= 1) or topp:P"),
    (["--sampling", "topk:5", "--temperature", "0"], "--temperature 0.0: must be positive"),
    (["--n-best", "3", "--beam", "2"], "--n-best 3: 3 exceeds the beam size 2"),
])
def test_bad_decode_options_get_one_line(synth_run, args, needle):
    result = runner.invoke(app, ["translate", "w1 w2", "--run", str(synth_run), *args])
    assert result.exit_code == 2 and needle in result.stderr, result.output
    assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1


def test_the_cli_takes_a_glossary_and_samples(synth_run, tmp_path):
    glossary = tmp_path / "terms.tsv"
    glossary.write_text("w1\tw17x w18x\n", encoding="utf-8")
    forced = runner.invoke(app, ["translate", "w1 w5", "--run", str(synth_run), "--glossary", str(glossary)])
    assert forced.exit_code == 0 and "w17x w18x" in forced.stdout, forced.output
    bad = tmp_path / "bad.tsv"
    bad.write_text("w1 w17x\n", encoding="utf-8")
    refused = runner.invoke(app, ["translate", "w1", "--run", str(synth_run), "--glossary", str(bad)])
    assert refused.exit_code == 2 and "bad.tsv:1: expected" in refused.stderr
    args = ["translate", "w1 w5 w6", "--run", str(synth_run), "--sampling", "topk:5", "--n-best", "4", "--seed", "3"]
    first, again = runner.invoke(app, args), runner.invoke(app, args)
    assert first.exit_code == 0 and first.stdout == again.stdout
    assert [line.split(" ||| ")[0] for line in first.stdout.splitlines()] == ["0"] * 4


def test_decode_settings_are_validated_where_they_change():
    d = DecodeConfig(beam_size=4)
    assert d.override({"n_best": 4, "length_penalty": None}) == DecodeConfig(beam_size=4, n_best=4)
    assert d.override({"sampling": "topk:5", "n_best": 10}).sampler() == (5, 1.0)
    for changes, needle in (({"n_best": 5}, "decode.n_best: 5 exceeds the beam size 4"),
                            ({"beam_sise": 2}, "did you mean 'decode.beam_size'"),
                            ({"glossary": {"a": "b"}, "sampling": "topp:0.5"}, "glossary terms need (beam) search")):
        with pytest.raises(NmtError, match=needle.replace("(", r"\(").replace(")", r"\)")):
            d.override(changes)


def test_a_completed_term_is_not_continued_as_a_longer_word(reverse_model):
    model = reverse_model[0]
    src = pad([[4, 5, 6, 7, EOS_ID]])  # the model answers 7 6 5 4: its 5 is followed by 4
    free = constrained_beam_search(model, src, [[[5]]], beam_size=3, max_len_a=1.0, max_len_b=4)[0]
    assert free and _contains(free[0].tokens, [5, 4])
    glue = torch.zeros(18, dtype=torch.bool)
    glue[4] = True  # say piece 4 continues the word before it: it may not follow the term
    best = constrained_beam_search(model, src, [[[5]]], beam_size=3, max_len_a=1.0, max_len_b=4,
                                   continues_word=glue)[0]
    assert best and _contains(best[0].tokens, [5]) and not _contains(best[0].tokens, [5, 4])


def _contains(tokens: list[int], term: list[int]) -> bool:
    return any(tokens[i : i + len(term)] == term for i in range(len(tokens) - len(term) + 1))
