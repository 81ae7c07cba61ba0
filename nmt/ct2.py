"""CTranslate2: export a trained run, and translate with the export as nmt would (optional extra:
``pip install -e ".[ctranslate2]"``).

nmt's model fits CTranslate2's standard ``TransformerSpec``: fused QKV self-attention, fused KV cross-attention,
pre- or post-norm, ReLU/GELU/Swish FFN, scaled embeddings, an optional output bias, the decoder start token. The
sinusoidal table is exported as is (either layout), and LayerNorm's epsilon is nmt's (1e-5). The SentencePiece
model(s) (and id table) are copied beside the model.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from nmt.config import DecodeConfig
from nmt.constants import EOS, SPM_JOINT, SPM_SRC, SPM_TGT, VOCAB_FILE
from nmt.data import pad
from nmt.errors import NmtError
from nmt.model import Transformer
from nmt.realtext import Translation, finish
from nmt.run import Run, load_run
from nmt.search import length_penalty, output_limits
from nmt.translate import bans_digits, prepare_lines, source_ids

CT2_DIR = "ctranslate2"  # default export folder inside a run directory


def _ct2() -> Any:  # noqa: ANN401
    try:
        import ctranslate2
    except ImportError:
        raise NmtError("CTranslate2 is not installed; pip install 'nmt[ctranslate2]' (or pip install ctranslate2)"
                       ) from None
    return ctranslate2


def _np(t: Tensor) -> Any:  # noqa: ANN401
    return t.detach().float().cpu().contiguous().numpy()


def _linear(spec: Any, layer: nn.Linear) -> None:  # noqa: ANN401
    spec.weight = _np(layer.weight)
    if layer.bias is not None:
        spec.bias = _np(layer.bias)


def _norm(spec: Any, layer: nn.LayerNorm) -> None:  # noqa: ANN401
    spec.gamma, spec.beta = _np(layer.weight), _np(layer.bias)


def ctranslate2_spec(model: Transformer, src_vocab: list[str], tgt_vocab: list[str],
                      quantization: str | None = None) -> Any:  # noqa: ANN401
    """A validated, optimised CTranslate2 TransformerSpec holding ``model``'s weights."""
    _ct2()  # a clear error when the extra is missing
    from ctranslate2.specs import common_spec, transformer_spec

    cfg = model.cfg
    activation = getattr(common_spec.Activation, cfg.activation.upper())  # RELU, GELU, SWISH
    spec = transformer_spec.TransformerSpec.from_config(
        (cfg.encoder_layers, cfg.decoder_layers), cfg.heads, pre_norm=cfg.norm == "pre", activation=activation)
    spec.config.layer_norm_epsilon = 1e-5
    spec.config.add_source_eos = False  # nmt's translate adds </s> to the source tokens itself
    spec.config.decoder_start_token = tgt_vocab[model.start_id]
    enc, dec = spec.encoder, spec.decoder
    enc.embeddings[0].weight = _np(model.src_embed.weight)
    dec.embeddings.weight = _np(model.tgt_embed.weight)
    enc.position_encodings.encodings = _np(model.positions.pe)
    dec.position_encodings.encodings = _np(model.positions.pe)
    if cfg.norm == "pre":
        _norm(enc.layer_norm, model.encoder_norm)
        _norm(dec.layer_norm, model.decoder_norm)
    for ours, theirs in zip(model.encoder, enc.layer):
        _linear(theirs.self_attention.linear[0], ours.self_attn.qkv)
        _linear(theirs.self_attention.linear[1], ours.self_attn.out)
        _norm(theirs.self_attention.layer_norm, ours.res_attn.norm)
        _ffn(theirs.ffn, ours.ffn, ours.res_ffn.norm)
    for ours, theirs in zip(model.decoder, dec.layer):
        _linear(theirs.self_attention.linear[0], ours.self_attn.qkv)
        _linear(theirs.self_attention.linear[1], ours.self_attn.out)
        _norm(theirs.self_attention.layer_norm, ours.res_self.norm)
        _linear(theirs.attention.linear[0], ours.cross_attn.q)
        _linear(theirs.attention.linear[1], ours.cross_attn.kv)
        _linear(theirs.attention.linear[2], ours.cross_attn.out)
        _norm(theirs.attention.layer_norm, ours.res_cross.norm)
        _ffn(theirs.ffn, ours.ffn, ours.res_ffn.norm)
    _linear(dec.projection, model.output)
    spec.register_source_vocabulary(src_vocab)
    spec.register_target_vocabulary(tgt_vocab)
    spec.validate()
    spec.optimize(quantization=quantization)
    return spec


def save_spec(spec: Any, target: Path, extra_files: list[Path] = ()) -> Path:  # noqa: ANN401
    """Save a spec (plus ``extra_files``) into ``target`` through a temporary folder and a rename."""
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    spec.save(str(tmp))
    for path in extra_files:
        shutil.copy(path, tmp / path.name)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


def export_ctranslate2(run: str | Path | None, out_dir: Path | None = None, checkpoint: str = "best",
                       quantization: str | None = None) -> Path:
    """Convert a run's checkpoint to a CTranslate2 model directory (default: RUN/ctranslate2); returns it."""
    loaded = load_run(run, checkpoint)
    tok = loaded.tokenizer
    assert loaded.model is not None
    spec = ctranslate2_spec(loaded.model, tok.src_vocab(), tok.tgt_vocab(), quantization)
    spm = [loaded.dir / n for n in (SPM_JOINT, SPM_SRC, SPM_TGT, VOCAB_FILE) if (loaded.dir / n).is_file()]
    return save_spec(spec, out_dir or loaded.dir / CT2_DIR, spm)


def _ffn(spec: Any, ffn: nn.Module, norm: nn.LayerNorm) -> None:  # noqa: ANN401
    _linear(spec.linear_0, ffn.w1)
    _linear(spec.linear_1, ffn.w2)
    _norm(spec.layer_norm, norm)


class CT2Translator:
    """Translate with an exported CTranslate2 model and the run's config and SentencePiece model(s); the run's
    PyTorch weights are never loaded (``load_run(run, checkpoint=None)`` is enough)."""

    def __init__(self, run: Run, model_dir: Path | None = None, threads: int = 0) -> None:
        ct2 = _ct2()
        folder = model_dir or run.dir / CT2_DIR
        if not (folder / "model.bin").is_file():
            raise NmtError(f"{folder}: no CTranslate2 model; make one with `nmt export {run.dir} "
                           "--format ctranslate2`")
        self.run = run
        self.engine = ct2.Translator(str(folder), device="cpu", intra_threads=threads)

    def translate(self, lines: list[str], beam_size: int | None = None, min_len: int = 1,
                  **changes: Any) -> list[str]:  # noqa: ANN401
        """Best translation per line, as nmt's own search chooses it; empty lines stay empty. ``changes``: decode
        settings (``beam_size`` among them) as
        :meth:`nmt.translate.Translator.settings`.

        CTranslate2 is driven to decode like nmt: the same per-sentence output limit (a * source length + b,
        </s> included: CTranslate2 stops one token earlier, where nmt forces </s>) and minimum length. Beam
        search: CTranslate2 returns its finished hypotheses with their log-probability sums; those nmt's beam
        search would have finished too (up to the step where k were finished) are ranked by nmt's GNMT score,
        with the </s> log-probability of a hypothesis stopped by the limit taken from ``score_batch``."""
        cfg = self.run.config
        d = cfg.decode.override({"beam_size": beam_size, **changes})
        if d.glossary or d.sampler() is not None:
            raise NmtError("the CTranslate2 engine searches only (greedy or beam): glossary terms and sampling need "
                           "nmt's own engine (Translator)")
        tok = self.run.tokenizer
        prep = prepare_lines(tok, cfg.model.max_positions, lines, d, cfg.data.src_lang)
        found = self._translate_units(prep.inputs, d, min_len, bans_digits(tok, d, prep.inputs))
        return [nbest[0].text for nbest in finish(prep, [[Translation(t, 0.0, 0.0)] for t in found])]

    def _translate_units(self, lines: list[str], d: DecodeConfig, min_len: int, no_digits: bool) -> list[str]:
        """The best translation of each model input (a unit: one sentence, placeholders in it); ``no_digits``:
        pieces that write a digit are suppressed."""
        cfg, tok = self.run.config, self.run.tokenizer
        suppress = [[p] for p, digit in zip(tok.tgt_vocab(), tok.digit_pieces) if digit] if no_digits else None
        ids = source_ids(tok, lines)
        todo = [i for i, x in enumerate(ids) if x]
        limits = output_limits(pad([ids[i] for i in todo]), d.max_len_a, d.max_len_b, cfg.model.max_positions)
        out = [""] * len(lines)
        by_limit: dict[int, list[int]] = {}
        for i, limit in zip(todo, limits.tolist()):
            by_limit.setdefault(limit, []).append(i)
        k = d.beam_size
        for limit, group in by_limit.items():
            if limit == 1:  # room for </s> only
                continue
            pieces = [tok.src_pieces(ids[i]) for i in group]
            # patience 2 keeps CTranslate2 going past the step where nmt stops, so that every hypothesis nmt
            # finishes is among the 2k returned; length_penalty -3 ranks them (score = sum * length^3) so that
            # the earlier (shorter) ones survive the cut to 2k
            results = self.engine.translate_batch(
                pieces, beam_size=k, patience=2 if k > 1 else 1, num_hypotheses=2 * k if k > 1 else 1,
                length_penalty=-3.0, max_batch_size=d.batch_size, max_decoding_length=limit - 1,
                min_decoding_length=min(min_len, limit - 1), return_scores=True, return_end_token=True,
                suppress_sequences=suppress)
            for i, src, result in zip(group, pieces, results):
                best = result.hypotheses[0] if k == 1 else self._best(src, result, k, limit, d.length_penalty)
                out[i] = tok.tgt.decode([t for t in best if t != EOS]).strip()
        return out

    def _best(self, src: list[str], result: Any, k: int, limit: int, alpha: float) -> list[str]:  # noqa: ANN401
        """The hypothesis nmt's beam search returns: among those finished by the step at which k were finished
        (or by the limit), the best by GNMT score (sum of log-probabilities, </s> included, / penalty)."""
        sums = [score / len(tokens) ** 3.0 for tokens, score in zip(result.hypotheses, result.scores)]  # undo -3
        stopped = [tokens for tokens in result.hypotheses if tokens[-1] != EOS]  # by the limit, without </s>
        # nmt forces </s> at the limit and counts its log-probability: one scoring pass for all of them
        eos = iter([r.log_probs[-1] for r in self.engine.score_batch([src] * len(stopped), stopped)] if stopped else [])
        finished = []  # (step it finished at, sum of log-probabilities with </s>, tokens without </s>)
        for tokens, total in zip(result.hypotheses, sums):
            if tokens[-1] == EOS:
                finished.append((len(tokens) - 1, total, tokens[:-1]))
            else:
                finished.append((limit - 1, total + next(eos), tokens))
        steps = sorted(step for step, _, _ in finished)
        last = min(steps[min(k, len(steps)) - 1], limit - 1)  # nmt stops once k hypotheses are finished
        scored = [(total / length_penalty(len(words) + 1, alpha), words) for step, total, words in finished
                  if step <= last]
        return max(scored, key=lambda x: x[0])[1]
