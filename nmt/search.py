"""Greedy search, sampling and beam search over the model's narrow interface: ``encode``, ``init_cache``,
``decode_step`` (lexically constrained beam search: nmt/constrained.py).

All decode from the model's start token (<s>; <pad> for Marian models) until </s> or the length limit
``max_len_a * source_length + max_len_b`` (subword tokens, </s> included; at the limit </s> is forced). Rows are
one flat (sentence x beam) dimension; finished sentences are dropped from the batch and the cache follows with one
``reorder`` per step.

Beam scores are length-normalised with the GNMT penalty (Wu et al., 2016):
``score = sum(log p) / ((5 + |y|) / 6) ** alpha``, where |y| counts the output tokens plus </s>.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from nmt.constants import EOS_ID, PAD_ID


@dataclass
class Hypothesis:
    tokens: list[int]  # output ids, without <s> and </s>
    score: float  # greedy: sum of log-probabilities; beam: that sum / length penalty
    log_prob: float  # sum of log-probabilities, </s> included (the model's score before any length penalty)


class SearchModel(Protocol):
    """What search needs from a model: the narrow interface, encode once, then one step at a time."""

    start_id: int  # the token decoding starts from; never generated

    def encode(self, src: Tensor): ...  # noqa: ANN201
    def init_cache(self, enc, max_len: int): ...  # noqa: ANN001, ANN201
    def decode_step(self, tokens: Tensor, cache) -> Tensor: ...  # noqa: ANN001


def length_penalty(length: int | Tensor, alpha: float) -> float | Tensor:
    """GNMT length penalty ((5 + length) / 6) ** alpha; 1 when alpha is 0."""
    return ((5.0 + length) / 6.0) ** alpha


def output_limits(src: Tensor, max_len_a: float, max_len_b: int, max_positions: int) -> Tensor:
    """Per-sentence maximum output length (tokens incl. </s>): a * |x| + b, at most the model's positions."""
    src_len = (src != PAD_ID).sum(dim=1).float()  # (B,)
    return (max_len_a * src_len + max_len_b).long().clamp(min=1, max=max_positions)


def _step_log_probs(
    model: SearchModel, last: Tensor, cache, t: int, min_len: int, at_limit: Tensor  # noqa: ANN001
) -> Tensor:
    """log p(next | prefix), (N, V), from one fused log_softmax (less than half the time of logsumexp and a
    subtraction on (160, 8000) rows). <pad>/<s> are banned, </s> banned before ``min_len`` and forced at the
    limit (bans change no probability: they act after the normaliser is taken)."""
    logp = model.decode_step(last, cache).float().log_softmax(dim=-1)  # (N, V)
    logp[:, [PAD_ID, model.start_id]] = float("-inf")  # never generated
    if t < min_len:
        logp[~at_limit, EOS_ID] = float("-inf")
    if bool(at_limit.any()):
        not_eos = torch.ones(logp.size(1), dtype=torch.bool, device=logp.device)
        not_eos[EOS_ID] = False
        logp.masked_fill_(at_limit[:, None] & not_eos[None, :], float("-inf"))
    return logp


@torch.inference_mode()
def greedy_search(
    model: SearchModel, src: Tensor, max_len_a: float = 1.5, max_len_b: int = 10, min_len: int = 0,
    max_positions: int = 1024,
) -> list[Hypothesis]:
    """Pick the most probable token at each step. src: (B, S) padded ids -> one hypothesis per sentence."""
    return _one_path(model, src, 1, max_len_a, max_len_b, min_len, max_positions, lambda logp: logp.max(dim=-1))


NUCLEUS_SORTED = 256  # sample_search sorts this many tokens first, all of them only when their mass < top_p


@torch.inference_mode()
def sample_search(
    model: SearchModel, src: Tensor, n: int = 1, top_k: int = 0, top_p: float = 1.0, temperature: float = 1.0,
    max_len_a: float = 1.5, max_len_b: int = 10, min_len: int = 0, max_positions: int = 1024,
    generator: torch.Generator | None = None,
) -> list[list[Hypothesis]]:
    """Draw ``n`` translations per sentence: each token from the model's distribution at ``temperature``, cut to
    the ``top_k`` most probable tokens (0: no cut) or to the smallest set whose probability reaches ``top_p``
    (nucleus sampling; 1.0: no cut). Scores are the model's log-probabilities (temperature 1), samples in the
    order drawn. The same ``generator`` state and batch give the same samples."""

    def pick(probs: Tensor, ids: Tensor) -> Tensor:
        """A token per row from ``probs`` (N, K) sorted most probable first, ``ids`` their token ids."""
        if top_p < 1.0:
            probs = probs.masked_fill(probs.cumsum(dim=1) - probs >= top_p, 0.0)  # the nucleus: mass before < p
        return ids.gather(1, torch.multinomial(probs, 1, generator=generator)).squeeze(1)  # (N,)

    def draw(logp: Tensor) -> tuple[Tensor, Tensor]:
        probs = (logp / temperature).softmax(dim=-1)  # (N, V); banned tokens stay at 0
        if top_k:
            tokens = pick(*probs.topk(top_k, dim=1))
        elif top_p < 1.0:  # the nucleus nearly always lies in the few hundred most probable: sort those only
            head, ids = probs.topk(min(NUCLEUS_SORTED, probs.size(1)), dim=1)  # (N, K)
            wide = head.sum(dim=1) < top_p  # (N,) rows whose nucleus reaches past the head
            tokens = torch.empty(probs.size(0), dtype=torch.long, device=probs.device)
            if not bool(wide.all()):
                tokens[~wide] = pick(head[~wide], ids[~wide])
            if bool(wide.any()):
                tokens[wide] = pick(*probs[wide].sort(dim=1, descending=True))
        else:
            tokens = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        return logp.gather(1, tokens[:, None]).squeeze(1), tokens

    found = _one_path(model, src, n, max_len_a, max_len_b, min_len, max_positions, draw)
    return [found[i : i + n] for i in range(0, len(found), n)]


def _one_path(
    model: SearchModel, src: Tensor, copies: int, max_len_a: float, max_len_b: int, min_len: int,
    max_positions: int, pick: Callable[[Tensor], tuple[Tensor, Tensor]],
) -> list[Hypothesis]:
    """Extend one prefix per row with ``pick(log-probabilities) -> (their log-probability, tokens)`` until </s>
    or the row's limit; ``copies`` rows per sentence, consecutive. One hypothesis per row."""
    dev = src.device
    limits = output_limits(src, max_len_a, max_len_b, max_positions).repeat_interleave(copies)  # (B*copies,)
    b, steps = limits.numel(), int(limits.max())
    cache = model.init_cache(model.encode(src), steps)
    if copies > 1:  # each sentence's encoder states serve its copies as rows of their own
        cache.reorder(torch.arange(src.size(0), device=dev).repeat_interleave(copies), group=1)
    out = torch.full((b, steps), PAD_ID, dtype=torch.long, device=dev)
    scores = torch.zeros(b, device=dev)
    active = torch.arange(b, device=dev)  # row index of each cache row
    last = torch.full((b,), model.start_id, dtype=torch.long, device=dev)
    for t in range(steps):
        logp = _step_log_probs(model, last, cache, t, min_len, limits[active] == t + 1)
        best, nxt = pick(logp)  # (N,)
        out[active, t] = nxt
        scores[active] += best
        alive = nxt != EOS_ID
        if not bool(alive.all()):
            keep = alive.nonzero().squeeze(1)
            if keep.numel() == 0:
                break
            cache.reorder(keep)
            active, nxt = active[keep], nxt[keep]
        last = nxt
    return [Hypothesis(_strip(row), float(s), float(s)) for row, s in zip(out.tolist(), scores.tolist())]


@torch.inference_mode()
def beam_search(
    model: SearchModel, src: Tensor, beam_size: int = 5, alpha: float = 0.6, max_len_a: float = 1.5,
    max_len_b: int = 10, min_len: int = 0, n_best: int = 1, max_positions: int = 1024, early_stop: bool = True,
) -> list[list[Hypothesis]]:
    """Keep the ``beam_size`` best prefixes; a sentence is done when it has ``beam_size`` finished hypotheses,
    or (``early_stop``) as soon as no live beam can beat its ``n_best``-th finished one: a live prefix's
    log-probability only falls, so its best possible score is that sum divided by the length penalty at the
    sentence's length limit. The returned n-best are the same either way; early_stop saves the steps.

    Returns, per sentence, the ``n_best`` finished hypotheses, best first. Beam size 1 gives greedy's output.
    """
    k, b, dev = beam_size, src.size(0), src.device
    limits = output_limits(src, max_len_a, max_len_b, max_positions)  # (B,)
    steps = int(limits.max())
    cache = model.init_cache(model.encode(src), steps)
    cache.reorder(torch.arange(b, device=dev).repeat_interleave(k), group=k)  # (B*k) rows, k per sentence
    scores = torch.full((b, k), float("-inf"), device=dev)
    scores[:, 0] = 0.0  # all beams start identical: only one may expand at first
    active = torch.arange(b, device=dev)  # sentence index of each group of k rows
    history = torch.empty(b * k, 0, dtype=torch.long, device=dev)  # (N, t) tokens so far per row
    last = torch.full((b * k,), model.start_id, dtype=torch.long, device=dev)
    n_done = torch.zeros(b, dtype=torch.long, device=dev)
    finished: list[list[Hypothesis]] = [[] for _ in range(b)]
    nth_best = torch.full((b,), float("-inf"), device=dev)  # score of each sentence's n_best-th finished hypothesis
    best_possible = length_penalty(limits.float(), alpha)  # (B,) the largest penalty a hypothesis can get
    first_k = torch.arange(2 * k, device=dev) < k
    for t in range(steps):
        n = active.numel()
        at_limit = limits[active] == t + 1  # (n,)
        logp = _step_log_probs(model, last, cache, t, min_len, at_limit.repeat_interleave(k))  # (n*k, V)
        vocab = logp.size(1)
        cand = logp.add_(scores.view(n * k, 1)).view(n, k * vocab)  # running log-probabilities
        top_val, top_idx = cand.topk(2 * k, dim=1)  # (n, 2k)
        top_beam, top_tok = top_idx // vocab, top_idx % vocab
        rows = torch.arange(n, device=dev)[:, None] * k + top_beam  # (n, 2k) source row of each candidate
        ends = (top_tok == EOS_ID) & first_k & torch.isfinite(top_val)  # </s> among the k best: finished
        if bool(ends.any()):
            for i, j in ends.nonzero().tolist():
                toks = history[rows[i, j]].tolist()
                total = float(top_val[i, j])
                sentence = int(active[i])
                finished[sentence].append(Hypothesis(toks, total / length_penalty(len(toks) + 1, alpha), total))
                if len(finished[sentence]) >= n_best:
                    nth_best[sentence] = sorted(h.score for h in finished[sentence])[-n_best]
            n_done.index_add_(0, active, ends.sum(dim=1))
        cont_val, pick = top_val.masked_fill(top_tok == EOS_ID, float("-inf")).topk(k, dim=1)  # (n, k)
        done = (n_done[active] >= k) | at_limit  # (n,)
        if early_stop:  # no live beam can still reach the n-best (its log-probability only falls)
            reachable = cont_val.max(dim=1).values / best_possible[active]  # (n,) best score a live beam can get
            done |= (nth_best[active] > float("-inf")) & (nth_best[active] >= reachable)
        keep = (~done).nonzero().squeeze(1)
        if keep.numel() == 0:
            break
        sel_rows = rows.gather(1, pick)[keep].reshape(-1)  # (n'*k,)
        last = top_tok.gather(1, pick)[keep].reshape(-1)
        history = torch.cat([history.index_select(0, sel_rows), last[:, None]], dim=1)
        cache.reorder(sel_rows)
        scores, active = cont_val[keep], active[keep]
    return [sorted(hyps, key=lambda h: -h.score)[:n_best] for hyps in finished]


def _strip(row: list[int]) -> list[int]:
    return row[: row.index(EOS_ID)] if EOS_ID in row else [tok for tok in row if tok != PAD_ID]
