"""Greedy and beam search: beam 1 == greedy, n-best scores are real log-probabilities, length limits."""

import pytest
import torch

from nmt.constants import BOS_ID, EOS_ID
from nmt.data import pad
from nmt.model import Transformer
from nmt.search import beam_search, greedy_search, length_penalty, output_limits
from tests.conftest import random_sources, reverse_samples, tiny_model_config


def _model(seed: int) -> Transformer:
    torch.manual_seed(seed)
    return Transformer(tiny_model_config(), 40, 40).eval()


class EosSometimes:
    """A decoder whose </s> logit competes with the best token, depending on the prefix, so that hypotheses
    end at different steps (random weights alone either stop at once or run to the length limit)."""

    start_id = BOS_ID

    def __init__(self, model: Transformer) -> None:
        self.model = model

    def encode(self, src):
        return self.model.encode(src)

    def init_cache(self, enc, max_len):
        return self.model.init_cache(enc, max_len)

    def decode_step(self, tokens, cache):
        logits = self.model.decode_step(tokens, cache).clone()
        logits[:, EOS_ID] = logits[:, 4:].max(dim=-1).values + logits[:, 4] - logits[:, 5] - 1.0
        return logits


def _full_log_prob(model: Transformer, src: torch.Tensor, tokens: list[int]) -> float:
    """log p(tokens + </s> | src) from one teacher-forced full pass."""
    tgt_in = torch.tensor([[BOS_ID, *tokens]])
    tgt_out = torch.tensor([[*tokens, EOS_ID]])
    with torch.no_grad():
        logp = torch.log_softmax(model(src[None], tgt_in).float(), dim=-1)
    return float(logp.gather(2, tgt_out[..., None]).sum())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_size_one_equals_greedy(seed):
    model = EosSometimes(_model(seed))
    src = pad(random_sources(8, seed=seed))
    greedy = greedy_search(model, src, max_len_a=1.0, max_len_b=4)
    beam = beam_search(model, src, beam_size=1, max_len_a=1.0, max_len_b=4)
    assert [g.tokens for g in greedy] == [b[0].tokens for b in beam]
    assert [g.log_prob for g in greedy] == pytest.approx([b[0].log_prob for b in beam], abs=1e-4)
    lengths = {len(g.tokens) for g in greedy}
    assert len(lengths) > 1  # hypotheses end at different steps: the test exercises finishing


def test_nbest_scores_are_normalised_log_probs_from_a_full_pass():
    model = _model(3)
    src = pad(random_sources(4, seed=3))
    alpha = 0.6
    results = beam_search(model, src, beam_size=4, alpha=alpha, max_len_a=1.0, max_len_b=4, n_best=3)
    for i, nbest in enumerate(results):
        assert len(nbest) == 3
        assert [h.score for h in nbest] == sorted((h.score for h in nbest), reverse=True)
        row = src[i][src[i] != 0]
        for hyp in nbest:
            total = _full_log_prob(model, row, hyp.tokens)
            assert hyp.log_prob == pytest.approx(total, abs=1e-4)  # the n-best's F0
            assert hyp.score == pytest.approx(total / length_penalty(len(hyp.tokens) + 1, alpha), abs=1e-4)


def test_beam_finds_at_least_as_good_a_score_as_greedy():
    model = _model(4)
    src = pad(random_sources(6, seed=4))
    greedy = greedy_search(model, src, 1.0, 4)
    beam = beam_search(model, src, beam_size=5, alpha=0.0, max_len_a=1.0, max_len_b=4)
    for g, b in zip(greedy, beam):
        assert b[0].score >= g.score - 1e-4


def test_length_limits_and_min_length():
    model = _model(5)
    src = pad(random_sources(5, seed=5))
    limits = output_limits(src, 1.0, 2, max_positions=64)
    for search in ("greedy", "beam"):
        if search == "greedy":
            hyps = [h.tokens for h in greedy_search(model, src, 1.0, 2, min_len=0)]
        else:
            hyps = [b[0].tokens for b in beam_search(model, src, 3, 0.6, 1.0, 2)]
        assert all(len(h) + 1 <= int(lim) for h, lim in zip(hyps, limits))  # + </s>
    forced = greedy_search(model, src, 0.0, 30, min_len=25)
    assert all(len(h.tokens) >= 25 for h in forced)
    forced_beam = beam_search(model, src, 3, 0.6, 0.0, 30, min_len=25)
    assert all(len(b[0].tokens) >= 25 for b in forced_beam)


def test_special_tokens_never_generated():
    model = _model(6)
    with torch.no_grad():
        model.output.weight[BOS_ID] *= 50  # make <s> the most likely token
    src = pad(random_sources(3, seed=6))
    for h in greedy_search(model, src, 1.0, 3):
        assert BOS_ID not in h.tokens and 0 not in h.tokens


class CountSteps(EosSometimes):
    steps = 0  # hypothesis rows decoded, summed over steps

    def decode_step(self, tokens, cache):
        self.steps += tokens.numel()
        return super().decode_step(tokens, cache)


def _nbest(results):
    return [[(h.tokens, round(h.score, 5)) for h in x] for x in results]


@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.2])
def test_early_stop_returns_the_same_n_best(alpha):
    for seed in range(4):
        src = pad(random_sources(12, seed=seed))
        early, full = CountSteps(_model(seed)), CountSteps(_model(seed))
        a = beam_search(early, src, beam_size=4, alpha=alpha, max_len_a=1.5, max_len_b=6, n_best=2)
        b = beam_search(full, src, beam_size=4, alpha=alpha, max_len_a=1.5, max_len_b=6, n_best=2, early_stop=False)
        assert _nbest(a) == _nbest(b)
        assert early.steps <= full.steps


def test_early_stop_saves_work_on_a_trained_model(reverse_model):
    import random


    model = reverse_model[0]
    src = pad([s + [EOS_ID] for s in reverse_samples(random.Random(7), 64)])
    counts = {}
    for name, stop in (("early", True), ("full", False)):
        counting = CountRows(model)
        counts[name] = (beam_search(counting, src, 4, 0.6, 1.5, 6, n_best=1, early_stop=stop), counting.rows)
    assert _nbest(counts["early"][0]) == _nbest(counts["full"][0])
    assert counts["early"][1] < counts["full"][1]  # fewer hypothesis rows decoded


class CountRows:
    start_id = BOS_ID

    def __init__(self, model):
        self.model, self.rows = model, 0

    def encode(self, src):
        return self.model.encode(src)

    def init_cache(self, enc, max_len):
        return self.model.init_cache(enc, max_len)

    def decode_step(self, tokens, cache):
        self.rows += tokens.numel()
        return self.model.decode_step(tokens, cache)
