"""Import Marian / OPUS-MT models (Hugging Face format) into an nmt run directory.

A folder with ``config.json``, ``model.safetensors``, ``source.spm``, ``target.spm`` and ``vocab.json`` (or
``hf:Helsinki-NLP/opus-mt-en-de``, downloaded with huggingface_hub) becomes a run that translate, eval, export and
``--init-from`` use like any other: the Marian shape as explicit model options (post-norm, swish, sine/cosine
halves, output bias, decoding from <pad>), the two SentencePiece models, the shared id table and a ``best``
checkpoint. Ids are renumbered so that nmt's special ids hold (<pad> 0, <unk> 1, </s> 3); the embedding rows and
output biases move with them.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from nmt.checkpoint import checkpoint_dir, save_checkpoint
from nmt.config import Config, DataConfig, DecodeConfig, ModelConfig, TokenizerConfig, load_config, save_config
from nmt.constants import (
    CONFIG_FILE,
    DEFAULT_RUNS_ROOT,
    EOS,
    EOS_ID,
    PAD,
    PAD_ID,
    SPM_SRC,
    SPM_TGT,
    UNK,
    UNK_ID,
    VOCAB_FILE,
)
from nmt.errors import NmtError
from nmt.model import Transformer
from nmt.run import mark_latest
from nmt.tokenizer import Tokenizer, load_sentencepiece

FILES = ("config.json", "source.spm", "target.spm", "vocab.json")
WEIGHTS = "model.safetensors"
ACTIVATIONS = {"swish": "swish", "silu": "swish", "relu": "relu", "gelu": "gelu"}


def fetch(model: str) -> Path:
    """A local Marian folder, or ``hf:OWNER/NAME`` downloaded (the files nmt reads, never pickled weights)."""
    if model.startswith("hf:"):
        from huggingface_hub import snapshot_download

        try:
            return Path(snapshot_download(model[3:], allow_patterns=[*FILES, "*.safetensors", "*.bin"]))
        except Exception as err:  # network, unknown repository, gated model: one line
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise NmtError(f"{model}: download failed ({first}); check the name and the network, or pass a local "
                           "folder") from None
    folder = Path(model)
    if not folder.is_dir():
        raise NmtError(f"{model}: not a folder; pass a Marian model folder ({', '.join(FILES)}, {WEIGHTS}) "
                       "or hf:OWNER/NAME")
    return folder


def model_config(hf: dict[str, Any], where: str) -> ModelConfig:
    """nmt model options for a Hugging Face MarianConfig; what nmt cannot express is refused, naming the key."""
    def need(ok: bool, key: str, why: str) -> None:
        if not ok:
            raise NmtError(f"{where}: {key}={hf.get(key)!r}: {why}")

    need(hf.get("model_type") == "marian", "model_type", "not a Marian model")
    need(hf.get("encoder_attention_heads") == hf.get("decoder_attention_heads"), "decoder_attention_heads",
         "nmt needs the same number of heads in encoder and decoder")
    need(hf.get("encoder_ffn_dim") == hf.get("decoder_ffn_dim"), "decoder_ffn_dim",
         "nmt needs the same FFN size in encoder and decoder")
    need(hf.get("activation_function", "gelu") in ACTIVATIONS, "activation_function",
         f"nmt has {', '.join(ACTIVATIONS)}")
    need(hf.get("scale_embedding", False) is True, "scale_embedding", "nmt scales embeddings by sqrt(d_model)")
    need(not hf.get("normalize_before", False), "normalize_before", "Marian models are post-norm")
    need(hf.get("share_encoder_decoder_embeddings", True) and hf.get("tie_word_embeddings", True),
         "share_encoder_decoder_embeddings", "nmt imports models with one shared embedding matrix")
    need(hf.get("decoder_start_token_id", hf.get("pad_token_id")) == hf.get("pad_token_id"),
         "decoder_start_token_id", "Marian models start decoding from <pad>")
    return ModelConfig(
        d_model=hf["d_model"], heads=hf["encoder_attention_heads"], ffn_dim=hf["encoder_ffn_dim"],
        encoder_layers=hf["encoder_layers"], decoder_layers=hf["decoder_layers"], dropout=hf.get("dropout", 0.1),
        attention_dropout=hf.get("attention_dropout", 0.0), activation_dropout=hf.get("activation_dropout", 0.0),
        activation=ACTIVATIONS[hf.get("activation_function", "gelu")], norm="post",  # type: ignore[arg-type]
        max_positions=hf.get("max_position_embeddings", 1024), tie_embeddings=True, position_layout="halves",
        output_bias=True, decoder_start="pad")


def renumber(vocab: dict[str, int], hf: dict[str, Any], where: str) -> list[int]:
    """``order[nmt_id]`` = Marian id: <pad>, <unk> and </s> move to nmt's 0, 1 and 3, every other id keeps its
    relative order (and nmt's id 2 is an ordinary piece: Marian has no <s>)."""
    size = hf.get("vocab_size", len(vocab))
    marian = {PAD: hf.get("pad_token_id"), UNK: vocab.get(UNK), EOS: hf.get("eos_token_id", 0)}
    for piece, i in marian.items():
        if vocab.get(piece) != i:
            raise NmtError(f"{where}: {piece} has id {vocab.get(piece)} in vocab.json but {i} in config.json")
    if sorted(vocab.values()) != list(range(size)):
        raise NmtError(f"{where}: vocab.json must give ids 0..{size - 1} (config.json vocab_size) once each")
    rest = iter(sorted(set(range(size)) - set(marian.values())))
    fixed = {PAD_ID: marian[PAD], UNK_ID: marian[UNK], EOS_ID: marian[EOS]}
    return [fixed[i] if i in fixed else next(rest) for i in range(size)]


def nmt_weights(w: dict[str, Tensor], cfg: ModelConfig, order: list[int]) -> dict[str, Tensor]:
    """Hugging Face MarianMTModel tensors -> nmt's state dict (fused QKV / KV, rows in nmt's id order)."""
    idx = torch.tensor(order)
    emb = w.get("model.shared.weight", w.get("model.encoder.embed_tokens.weight"))
    if emb is None:
        raise NmtError("model.safetensors: no embedding matrix (model.shared.weight); is this a MarianMTModel?")
    if "lm_head.weight" in w and not torch.equal(w["lm_head.weight"], emb):
        raise NmtError("model.safetensors: lm_head.weight differs from the shared embeddings; nmt imports tied models")
    bias = w.get("final_logits_bias", torch.zeros(1, emb.size(0)))
    out = {"src_embed.weight": emb[idx], "output.bias": bias[0][idx]}

    def linear(ours: str, *theirs: str) -> None:
        for part in ("weight", "bias"):
            out[f"{ours}.{part}"] = torch.cat([w[f"{name}.{part}"] for name in theirs])

    for side, layers in (("encoder", cfg.encoder_layers), ("decoder", cfg.decoder_layers)):
        for i in range(layers):
            hf, us = f"model.{side}.layers.{i}.", f"{side}.{i}."
            linear(us + "self_attn.qkv", *(hf + f"self_attn.{p}_proj" for p in "qkv"))
            linear(us + "self_attn.out", hf + "self_attn.out_proj")
            linear(us + "ffn.w1", hf + "fc1")
            linear(us + "ffn.w2", hf + "fc2")
            linear(us + ("res_attn.norm" if side == "encoder" else "res_self.norm"), hf + "self_attn_layer_norm")
            linear(us + "res_ffn.norm", hf + "final_layer_norm")
            if side == "decoder":
                linear(us + "cross_attn.q", hf + "encoder_attn.q_proj")
                linear(us + "cross_attn.kv", hf + "encoder_attn.k_proj", hf + "encoder_attn.v_proj")
                linear(us + "cross_attn.out", hf + "encoder_attn.out_proj")
                linear(us + "res_cross.norm", hf + "encoder_attn_layer_norm")
    return {name: t.float().contiguous() for name, t in out.items()}


def _languages(model: str, folder: Path) -> tuple[str, str] | None:
    """The languages Hugging Face's MarianTokenizer saved (tokenizer_config.json), else those in an OPUS-MT name."""
    saved = _read_json(folder / "tokenizer_config.json") if (folder / "tokenizer_config.json").is_file() else {}
    src, tgt = saved.get("source_lang"), saved.get("target_lang")
    if isinstance(src, str) and isinstance(tgt, str) and src and tgt:
        return src, tgt
    found = re.search(r"opus-mt-([a-z]+)-([a-z]+)$", model.rstrip("/"))
    return (found.group(1), found.group(2)) if found else None


def import_marian(model: str, run: str | Path | None = None, src_lang: str | None = None,
                  tgt_lang: str | None = None, overrides: list[str] | None = None,
                  runs_root: str = DEFAULT_RUNS_ROOT) -> Path:
    """Convert a Marian model (folder or ``hf:NAME``) into a new run directory (default: runs/<model name>)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = fetch(model)
    missing = [name for name in (*FILES, WEIGHTS) if not (folder / name).is_file()]
    if WEIGHTS in missing and list(folder.glob("*.bin")):
        raise NmtError(f"{folder}: only pickled weights (.bin); nmt never unpickles: use the model's safetensors "
                       f"weights ({WEIGHTS}; on the Hub, often a 'refs/pr' revision converted by the safetensors bot)")
    if missing:
        raise NmtError(f"{folder}: missing {', '.join(missing)}; a Marian model folder has {', '.join(FILES)} and "
                       f"{WEIGHTS}")
    langs = (src_lang, tgt_lang) if src_lang and tgt_lang else _languages(model, folder)
    if langs is None:
        raise NmtError(f"{model}: give the languages with --src and --tgt (neither tokenizer_config.json nor the "
                       "model's name says them)")
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", model.rstrip("/").split("/")[-1]) or "marian"
    target = Path(run) if run is not None else Path(runs_root) / name
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise NmtError(f"{target}: already there and not empty; choose another run directory with --run")
    hf = _read_json(folder / "config.json")
    vocab = _read_json(folder / "vocab.json")
    mcfg = model_config(hf, str(folder / "config.json"))
    order = renumber(vocab, hf, str(folder / "vocab.json"))
    by_marian = {i: piece for piece, i in vocab.items()}
    table = {by_marian[m]: i for i, m in enumerate(order)}  # piece -> nmt id
    try:
        weights = load_file(str(folder / WEIGHTS))
    except (SafetensorError, OSError) as err:
        raise NmtError(f"{folder / WEIGHTS}: unreadable ({str(err).splitlines()[0]})") from None
    net = Transformer(mcfg, len(order), len(order))
    try:
        net.load_state_dict(nmt_weights(weights, mcfg, order), strict=False)
    except (KeyError, RuntimeError) as err:
        raise NmtError(f"{folder / WEIGHTS}: does not match config.json ({str(err).splitlines()[0][:160]})") from None
    tmp = target.with_name(target.name + ".importing")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        tok = Tokenizer(load_sentencepiece(folder / "source.spm", "source.spm"),
                        load_sentencepiece(folder / "target.spm", "target.spm"), table, str(folder / "vocab.json"))
        tok.save(tmp)
        tcfg = TokenizerConfig(vocab_size=len(order), joint=False, src_model=str(target / SPM_SRC),
                               tgt_model=str(target / SPM_TGT), vocab=str(target / VOCAB_FILE))
        cfg = Config(name=target.name, runs_root=str(target.parent), model=mcfg, tokenizer=tcfg,
                     data=DataConfig(src_lang=langs[0], tgt_lang=langs[1]),
                     decode=DecodeConfig(beam_size=int(hf.get("num_beams") or 4)))
        save_config(cfg, tmp / CONFIG_FILE)
        cfg = load_config(tmp / CONFIG_FILE, overrides)  # --set, validated like any config
        save_config(cfg, tmp / CONFIG_FILE)
        save_checkpoint(checkpoint_dir(tmp, "best"), net, None, {"step": 0, "imported_from": model}, keep=1)
        tmp.replace(target)  # onto nothing, or an empty folder (checked above)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    mark_latest(target)
    return target


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise NmtError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise NmtError(f"{path}: expected a JSON object")
    return data

