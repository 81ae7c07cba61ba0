"""Export a trained run to CTranslate2 (optional extra: ``pip install -e ".[ctranslate2]"``).

nmt's model fits CTranslate2's standard ``TransformerSpec``: fused QKV self-attention, fused KV cross-attention,
pre- or post-norm, ReLU/GELU FFN, scaled embeddings. The sinusoidal table is exported as is (nmt interleaves
sin/cos), and LayerNorm's epsilon is nmt's (1e-5). The SentencePiece model(s) are copied beside the model.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from nmt.constants import EOS, SPM_JOINT, SPM_SRC, SPM_TGT
from nmt.errors import NmtError
from nmt.model import Transformer
from nmt.run import Run, load_run

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
    activation = common_spec.Activation.RELU if cfg.activation == "relu" else common_spec.Activation.GELU
    spec = transformer_spec.TransformerSpec.from_config(
        (cfg.encoder_layers, cfg.decoder_layers), cfg.heads, pre_norm=cfg.norm == "pre", activation=activation)
    spec.config.layer_norm_epsilon = 1e-5
    spec.config.add_source_eos = False  # nmt's translate adds </s> to the source tokens itself
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
    spec = ctranslate2_spec(loaded.model, [tok.src.id_to_piece(i) for i in range(tok.src_vocab_size)],
                            [tok.tgt.id_to_piece(i) for i in range(tok.tgt_vocab_size)], quantization)
    spm = [loaded.dir / n for n in (SPM_JOINT, SPM_SRC, SPM_TGT) if (loaded.dir / n).is_file()]
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

    def translate(self, lines: list[str], beam_size: int | None = None, min_len: int = 0) -> list[str]:
        """Best translation per line; empty lines stay empty. Limits as nmt's (a * source length + b)."""
        d = self.run.config.decode
        tok = self.run.tokenizer
        todo = [i for i, line in enumerate(lines) if line.strip()]
        pieces = [tok.src.encode(lines[i], out_type=str) + [EOS] for i in todo]
        longest = max((len(p) for p in pieces), default=1)
        results = self.engine.translate_batch(
            pieces, beam_size=beam_size or d.beam_size, max_batch_size=d.batch_size,
            max_decoding_length=int(d.max_len_a * longest + d.max_len_b), min_decoding_length=min_len,
            length_penalty=d.length_penalty)
        out = [""] * len(lines)
        for i, result in zip(todo, results):
            out[i] = tok.tgt.decode(result.hypotheses[0]).strip()
        return out
