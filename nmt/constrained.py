"""Lexically constrained beam search: every given token sequence (a glossary's target terms) appears in the output.

Dynamic beam allocation (Post & Vilar, 2018): at each step the candidates are the beam's usual best extensions,
each hypothesis's single best token, and each hypothesis's next constraint token (the next token of the term it is
in the middle of, else the first token of every term it still lacks). The beam is then shared out between banks,
one bank per number of constraint tokens met, taking the best candidate of each bank in turn from the fullest
bank down, so hypotheses that have met more of the constraints are never crowded out by better-scoring ones that
have met fewer. A term left half-way is started over. </s> is allowed only once every term is complete; beam size
k and n-best as in :func:`nmt.search.beam_search`, over the same narrow model interface.

Only lines with glossary terms come here (batched among themselves); the others go through the plain search.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from nmt.constants import EOS_ID
from nmt.search import Hypothesis, SearchModel, _step_log_probs, length_penalty, output_limits


@dataclass(frozen=True)
class Progress:
    """Which constraints a hypothesis has met, and how far into the one it is generating."""

    met: tuple[bool, ...]
    current: int = -1  # index of the constraint being generated; -1: none
    done: int = 0  # tokens of it generated so far
    ended: bool = False  # the last token completed a term: the next may not continue its word

    def tokens_met(self, constraints: list[list[int]]) -> int:
        """The bank: constraint tokens generated, completed terms plus the one under way."""
        return sum(len(c) for c, m in zip(constraints, self.met) if m) + self.done

    def wanted(self, constraints: list[list[int]]) -> list[int]:
        """Tokens that would advance a constraint: the next of the term under way, else each missing term's first."""
        if self.current >= 0:
            return [constraints[self.current][self.done]]
        return [c[0] for c, m in zip(constraints, self.met) if not m]

    def advance(self, token: int, constraints: list[list[int]]) -> Progress:
        if self.current >= 0 and constraints[self.current][self.done] == token:
            return self._step(self.current, self.done + 1, constraints)
        for i, (c, m) in enumerate(zip(constraints, self.met)):  # a term under way that is left starts over
            if not m and c[0] == token:
                return self._step(i, 1, constraints)
        return Progress(self.met)

    def _step(self, i: int, done: int, constraints: list[list[int]]) -> Progress:
        if done < len(constraints[i]):
            return Progress(self.met, i, done)
        return Progress(tuple(m or j == i for j, m in enumerate(self.met)), ended=True)


Candidate = tuple[float, int, int, Progress]  # (log-probability, source row, token, progress after it)
Beam = tuple[list[int], float, Progress]  # (tokens, log-probability, progress)


def needed_length(constraints: list[list[int]]) -> int:
    """Output tokens the constraints need, </s> included."""
    return sum(len(c) for c in constraints) + 1


@torch.inference_mode()
def constrained_beam_search(
    model: SearchModel, src: Tensor, constraints: list[list[list[int]]], beam_size: int = 5, alpha: float = 0.6,
    max_len_a: float = 1.5, max_len_b: int = 10, min_len: int = 0, n_best: int = 1, max_positions: int = 1024,
    continues_word: Tensor | None = None,
) -> list[list[Hypothesis]]:
    """Per sentence of ``src`` (B, S), the ``n_best`` hypotheses (best first) that contain every token sequence
    in its ``constraints[b]``; [] when none is found within the length limit (the caller checks
    :func:`needed_length` first, and then one always is: the fullest bank gains a constraint token at every step).
    ``continues_word`` (V,) marks the pieces that glue onto the word before them (SentencePiece pieces without the
    word-start mark): none may follow a completed term, so "Beweis" stays "Beweis", not "Beweise".

    The sentences are searched together: k cache rows each (the rows a sentence does not fill are dead, at -inf),
    so the model takes one batched step for all of them, while banks and allocation are kept per sentence."""
    k, dev = beam_size, src.device
    limits = output_limits(src, max_len_a, max_len_b, max_positions).tolist()
    cache = model.init_cache(model.encode(src), max(limits))
    cache.reorder(torch.arange(len(limits), device=dev).repeat_interleave(k), group=k)  # (B*k) rows, k a sentence
    beams: list[list[Beam]] = [[([], 0.0, Progress((False,) * len(c)))] for c in constraints]  # live rows
    finished: list[list[Hypothesis]] = [[] for _ in constraints]
    active = list(range(len(limits)))  # the sentences still searched, in cache order
    for t in range(max(limits)):
        rows = [beams[s][j] if j < len(beams[s]) else None for s in active for j in range(k)]  # None: dead
        last = torch.tensor([r[0][-1] if r and r[0] else model.start_id for r in rows], device=dev)
        at_limit = torch.tensor([t + 1 == limits[s] for s in active for _ in range(k)], device=dev)
        logp = _step_log_probs(model, last, cache, t, min_len, at_limit)  # (n*k, V)
        incomplete = torch.tensor([r is not None and (r[2].current >= 0 or not all(r[2].met)) for r in rows],
                                  device=dev)
        logp[incomplete, EOS_ID] = float("-inf")  # </s> only after every term
        if continues_word is not None:
            ended = torch.tensor([r is not None and r[2].ended for r in rows], device=dev)
            logp[ended[:, None] & continues_word[None, :]] = float("-inf")  # a term is a whole word
        scores = torch.tensor([float("-inf") if r is None else r[1] for r in rows], device=dev)
        total = (logp + scores[:, None]).cpu().view(len(active), k, -1)  # (n, k, V) running log-probabilities
        still, index = [], []
        for i, s in enumerate(active):
            chosen = _step(total[i], beams[s], constraints[s], k, finished[s], alpha)
            if not chosen:  # k hypotheses finished, or none can go on
                continue
            still.append(s)
            index += [i * k + row for _, row, _, _ in chosen] + [i * k] * (k - len(chosen))  # dead rows: copies
            beams[s] = [(beams[s][row][0] + [tok], score, after) for score, row, tok, after in chosen]
        if not still:
            break
        cache.reorder(torch.tensor(index, device=dev))
        active = still
    return [sorted(hyps, key=lambda h: -h.score)[:n_best] for hyps in finished]


def _step(total: Tensor, beams: list[Beam], constraints: list[list[int]], k: int, finished: list[Hypothesis],
          alpha: float) -> list[Candidate]:
    """One sentence's next beams from ``total`` (k, V), the running log-probabilities of its rows (dead rows at
    -inf): the candidates (the k best extensions, each row's best token, each row's next constraint tokens) go
    to their banks, </s> ones to ``finished``; [] when the sentence is done."""
    vocab = total.size(1)
    picks = {(int(i) // vocab, int(i) % vocab) for i in total.view(-1).topk(k).indices}
    picks |= {(row, int(tok)) for row, tok in enumerate(total[: len(beams)].argmax(dim=1))}
    picks |= {(row, tok) for row, (_, _, p) in enumerate(beams) for tok in p.wanted(constraints)}
    banks: dict[int, list[Candidate]] = {}
    for row, tok in picks:
        score = float(total[row, tok])
        if score == float("-inf"):
            continue
        toks, _, progress = beams[row]
        if tok == EOS_ID:
            finished.append(Hypothesis(toks, score / length_penalty(len(toks) + 1, alpha), score))
            continue
        after = progress.advance(tok, constraints)
        banks.setdefault(after.tokens_met(constraints), []).append((score, row, tok, after))
    if len(finished) >= k or not banks:
        return []
    return _allocate(banks, k)


def _allocate(banks: dict[int, list[Candidate]], k: int) -> list[Candidate]:
    """Up to ``k`` candidates: the best left in each bank in turn, the bank with the most constraint tokens first."""
    queues = [sorted(banks[b], key=lambda c: -c[0]) for b in sorted(banks, reverse=True)]
    chosen: list[Candidate] = []
    while len(chosen) < k and any(queues):
        for queue in queues:
            if queue and len(chosen) < k:
                chosen.append(queue.pop(0))
    return chosen
