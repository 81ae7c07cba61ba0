"""Configuration: YAML -> nested typed dataclasses, validated at load.

A config file may name a ``preset`` (tiny, compact, small, base: files in configs/presets/) whose values sit under the
file's own. ``--set key.path=value`` overrides come last. Unknown keys, wrong types and impossible values are
errors that name the file, the key and the nearest valid key.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from nmt.constants import BOS_ID, DEFAULT_RUNS_ROOT, MAX_PAD_MULTIPLE, PAD_ID
from nmt.errors import NmtError


def _shipped_configs() -> Path:
    """The recipes and presets: nmt/configs in an installed wheel, configs/ beside nmt/ in a source checkout."""
    here = Path(__file__).resolve().parent
    return here / "configs" if (here / "configs").is_dir() else here.parent / "configs"


SHIPPED_CONFIGS = _shipped_configs()
DEFAULT_CONFIG = SHIPPED_CONFIGS / "tatoeba-en-de.yaml"


CUDA_DECODE_TOKENS = 16_384  # decode.batch_tokens auto on CUDA
CUDA_PAD_MULTIPLE = 8  # train.pad_to_multiple auto on CUDA (and the decoding batches' widths there)


class ConfigError(NmtError):
    """A config file or override is invalid; ``key`` and ``reason`` where one key's value is at fault."""

    def __init__(self, message: str, key: str | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.key, self.reason = key, reason

    @property
    def field(self) -> str | None:
        """The DecodeConfig field at fault ("decode.beam_size" -> "beam_size"), for messages that name the flag or
        request field the user typed; None when no decode key is."""
        return self.key.removeprefix("decode.") if self.key and self.key.startswith("decode.") else None


@dataclass
class ModelConfig:
    """Shape of the encoder-decoder Transformer (defaults: the small preset)."""

    d_model: int = 256
    heads: int = 4
    ffn_dim: int = 1024
    encoder_layers: int = 3
    decoder_layers: int = 3
    dropout: float = 0.1
    attention_dropout: float = 0.0
    activation_dropout: float = 0.0  # inside the FFN, after the activation (the paper, fairseq, Marian: none)
    activation: Literal["relu", "gelu", "swish"] = "relu"  # swish (SiLU): Marian / OPUS-MT
    norm: Literal["pre", "post"] = "pre"  # where LayerNorm sits relative to each residual block
    max_positions: int = 256  # longest sequence (subword tokens, incl. <s>/</s>) the model accepts
    tie_embeddings: bool = True  # share source, target and output matrices (needs one id table for both sides)
    # share only the target embedding and the output matrix (per-side vocabularies; fairseq's
    # share_decoder_input_output_embed); implied by tie_embeddings
    tie_output: bool = False
    # sinusoidal table: sin/cos in alternate dimensions (the paper's formula), or all sines then all cosines
    # (tensor2tensor, Marian)
    position_layout: Literal["interleaved", "halves"] = "interleaved"
    output_bias: bool = False  # a bias on the output logits (Marian's final_logits_bias)
    decoder_start: Literal["bos", "pad"] = "bos"  # the token decoding starts from: <s>, or <pad> (Marian)

    @property
    def start_id(self) -> int:
        """The id the decoder starts from (and that is never generated)."""
        return PAD_ID if self.decoder_start == "pad" else BOS_ID

    def validate(self) -> None:
        _check(self.d_model % self.heads == 0, "model.d_model",
               f"d_model ({self.d_model}) must be divisible by heads ({self.heads})")
        for key in ("d_model", "heads", "ffn_dim", "encoder_layers", "decoder_layers", "max_positions"):
            _check(getattr(self, key) > 0, f"model.{key}", "must be positive")
        for key in ("dropout", "attention_dropout", "activation_dropout"):
            _check(0.0 <= getattr(self, key) < 1.0, f"model.{key}", "must be in [0, 1)")


@dataclass
class TokenizerConfig:
    """SentencePiece settings; the model is trained on the training split and stored in the run directory,
    unless existing models are named (``model``, or ``src_model`` + ``tgt_model``): those are copied in."""

    type: Literal["unigram", "bpe"] = "unigram"
    vocab_size: int = 8000
    joint: bool = True  # one vocabulary for source and target
    # per-side sizes (joint: false; 0: vocab_size). A large source vocabulary keeps common words whole at no cost
    # per step (an embedding lookup); the target's size sets the output layer's cost
    src_vocab_size: int = 0
    tgt_vocab_size: int = 0
    character_coverage: float = 1.0
    sample_sentences: int = 1_000_000  # SentencePiece trains on at most this many sentences (seeded sample; 0: all)
    model: str | None = None  # an existing joint SentencePiece model to use instead of training one
    src_model: str | None = None  # existing per-side models (tokenizer.joint: false)
    tgt_model: str | None = None
    split_digits: bool = True  # every digit a piece of its own: numbers the model can copy digit by digit
    byte_fallback: bool = False  # characters outside the vocabulary as UTF-8 byte pieces instead of <unk>
    placeholders: bool = True  # the verbatim placeholders ⟦1⟧..⟦16⟧ as pieces of their own (decode.verbatim)
    vocab: str | None = None  # a JSON piece -> id table both sides share (Marian's vocab.json); else SentencePiece ids

    @property
    def reuses(self) -> bool:
        """Existing SentencePiece models are named: nothing is trained."""
        return bool(self.model or self.src_model or self.tgt_model)

    def validate(self) -> None:
        if self.joint:
            _check(not (self.src_model or self.tgt_model), "tokenizer.src_model",
                   "per-side models need tokenizer.joint: false (or give one joint model as tokenizer.model)")
        else:
            _check(not self.model, "tokenizer.model", "a joint model needs tokenizer.joint: true (or give "
                   "tokenizer.src_model and tokenizer.tgt_model)")
            _check(bool(self.src_model) == bool(self.tgt_model), "tokenizer.tgt_model" if self.src_model else
                   "tokenizer.src_model", "give both tokenizer.src_model and tokenizer.tgt_model")
        _check(self.vocab is None or self.reuses, "tokenizer.vocab",
               "an id table goes with existing SentencePiece models (tokenizer.model or src_model/tgt_model)")
        _check(self.vocab_size >= 16, "tokenizer.vocab_size", "must be at least 16")
        for key in ("src_vocab_size", "tgt_vocab_size"):
            size = getattr(self, key)
            _check(size == 0 or size >= 16, f"tokenizer.{key}", "must be 0 (tokenizer.vocab_size) or at least 16")
            _check(size == 0 or not self.joint, f"tokenizer.{key}",
                   "per-side sizes need per-side models: set tokenizer.joint: false (or use tokenizer.vocab_size)")
        _check(0.9 <= self.character_coverage <= 1.0, "tokenizer.character_coverage", "must be in [0.9, 1]")
        _check(self.sample_sentences >= 0, "tokenizer.sample_sentences", "must be 0 (every sentence) or positive")


@dataclass
class ExtraData:
    """More training pairs mixed into a recipe's training split (never into validation or test)."""

    corpus: str = "ding"  # a named corpus (ding, tatoeba, multi30k: its training split) or a file spec
    max_pairs: int = 0  # a seeded sample of at most this many pairs (0: all)
    weight: int = 1  # copies of each pair in the training data
    kind: Literal["any", "sentences", "terms"] = "any"  # sentences: ending with . ! or ?; terms: the others
    max_words: int = 0  # pairs whose longer side has more words are left out (0: no limit)
    synonyms: Literal["first", "all"] = "first"  # ding: the first synonym of each side, or every combination

    def validate(self, key: str) -> None:
        for name in ("max_pairs", "max_words"):
            _check(getattr(self, name) >= 0, f"{key}.{name}", "must be zero (no limit) or positive")
        _check(self.weight >= 1, f"{key}.weight", "must be at least 1")


@dataclass
class DataConfig:
    """Where the parallel data comes from and how it is cleaned.

    A file spec is ``path.tsv`` (source<TAB>target), ``path.jsonl`` ({"translation": {src: .., tgt: ..}}),
    a prefix ``path/train`` (plain text ``train.<src_lang>`` + ``train.<tgt_lang>``), or ``hub:NAME[/CONFIG]``
    (a Hugging Face dataset in the translation convention; needs internet).
    """

    corpus: str | None = "tatoeba"  # a named corpus (tatoeba, multi30k) or null to use train/valid/test
    src_lang: str = "en"
    tgt_lang: str = "de"
    root: str | None = None  # where named corpora live; else $NMT_DATA, ./data, ../shared/data
    train: str | None = None
    valid: str | None = None
    test: dict[str, str] = field(default_factory=dict)  # test-set name -> file spec
    max_tokens: int = 100  # training pairs longer than this (subword tokens) on either side are dropped
    max_ratio: float = 3.0  # training pairs whose length ratio exceeds this are dropped
    num_proc: int = 0  # processes that tokenize the training data (0: one per core over 50,000 pairs, else 1)
    streaming: bool = False  # read the training data as a stream each epoch: never copied, cached or held in memory
    buffer_pairs: int = 100_000  # streaming: pairs read, sorted by length and batched together
    extra: list[ExtraData] = field(default_factory=list)  # more training pairs (e.g. the ding dictionary)
    # casual-typing copies: this share of the training pairs gets a second copy typed as people type, without the
    # final punctuation mark and/or with a lowercase first letter (on the source; casual_sides: both also drops the
    # target's final mark)
    casual: float = 0.0
    casual_sides: Literal["src", "both"] = "src"
    # augmentation that teaches copying (nmt/augment.py), each the share of the training pairs it changes: shared
    # names and numbers replaced on both sides by others of their kind (Faker's); verbatim spans and shared names
    # as placeholders on both sides (they reach the model so at translate time); a pair joined with the next one
    # or two (lines of several sentences)
    entities: float = 0.0
    placeholders: float = 0.0
    merge: float = 0.0
    phrases: str | None = None  # a check set (source<TAB>accepted<TAB>...) scored beside validation BLEU
    # a real-text check set (text<TAB>sentences<TAB>span...): lines whole, spans and sentences kept, beside BLEU
    realtext: str | None = None

    def validate(self) -> None:
        _check(self.corpus is not None or self.train is not None, "data.train",
               "set data.corpus to a named corpus or data.train to a file spec")
        _check(self.src_lang != self.tgt_lang, "data.tgt_lang", "must differ from data.src_lang")
        _check(self.max_tokens > 0, "data.max_tokens", "must be positive")
        _check(self.max_ratio >= 1.0, "data.max_ratio", "must be at least 1")
        _check(self.num_proc >= 0, "data.num_proc", "must be 0 (automatic) or positive")
        _check(self.buffer_pairs > 0, "data.buffer_pairs", "must be positive")
        for key in ("casual", "entities", "placeholders", "merge"):
            _check(0.0 <= getattr(self, key) <= 1.0, f"data.{key}", "must be in [0, 1]")
        for i, extra in enumerate(self.extra):
            extra.validate(f"data.extra[{i}]")


@dataclass
class TrainConfig:
    """Optimisation, batching, validation and stopping."""

    batch_tokens: int = 4096  # token budget per batch: sentences x longest length (source or target), padding counted
    # batch widths padded up to a multiple (and counted so in batch_tokens): fewer distinct shapes, each of which
    # costs a GPU kernel choices once; 0: auto: 8 on CUDA, 1 (no extra padding) on a CPU
    pad_to_multiple: int = 0
    accumulate: int = 1  # batches per optimizer step
    lr: float = 7e-4  # peak learning rate, reached at the end of warmup
    warmup_steps: int = 4000
    # after warmup: lr * sqrt(warmup / step) (inverse_sqrt), or down to 0 at the last step (linear, cosine)
    schedule: Literal["inverse_sqrt", "linear", "cosine"] = "inverse_sqrt"
    betas: list[float] = field(default_factory=lambda: [0.9, 0.98])
    weight_decay: float = 0.0
    label_smoothing: float = 0.1
    clip_norm: float = 1.0  # 0 disables clipping
    max_steps: int = 0  # 0: no step limit
    max_epochs: int = 0  # 0: no epoch limit
    max_minutes: float = 0.0  # 0: no time limit
    valid_every: int = 1000  # steps between validations; each writes the `last` checkpoint
    save_every: int = 0  # extra `last` checkpoints every this many steps (0: only at validations)
    keep_last: int = 1  # versions of the `last` checkpoint kept on disk (the newest ones)
    average_last: int = 0  # at the end of training, write `averaged`: the mean of the newest N `last` versions
    valid_bleu_sentences: int = 1000  # decode at most this many validation sentences for BLEU (0: all)
    patience: int = 0  # stop after this many validations without a better BLEU (0: never)
    log_every: int = 50
    tensorboard: bool = False  # also log metrics to RUN/tensorboard (needs the tensorboard package)
    max_nonfinite: int = 5  # stop after this many NaN/Inf losses in a row (each skips its update)
    seed: int = 1
    threads: int = 0  # torch CPU threads (0: torch's default)
    compile: bool = False  # torch.compile the model and loss for training (measured: docs/benchmarks.md)
    # torch.compile's mode; reduce-overhead replays CUDA graphs (one per padded shape) on CUDA
    compile_mode: Literal["default", "reduce-overhead", "max-autotune"] = "default"
    # attention kernels; auto: on CUDA flash (causal self-attention) and memory-efficient (masked), not cuDNN's
    # (which builds a plan for every new shape); elsewhere, and with torch: PyTorch's own choice
    attention_kernels: Literal["auto", "torch"] = "auto"
    # forward and loss under bf16 autocast (backward outside it); auto: bf16 on CUDA, fp32 on a CPU (bf16 pays only
    # on CPUs with native bf16 and for some shapes: docs/benchmarks.md)
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    device: str = "auto"  # auto, cpu, cuda, cuda:1, ...
    init_from: str | None = None  # fine-tune: start from this run's weights and tokenizer (fresh optimizer, schedule)
    init_checkpoint: Literal["best", "last", "averaged"] = "best"  # which of init_from's checkpoints

    def pad_multiple(self, device_type: str) -> int:
        """The multiple batch widths are padded to on this kind of device."""
        return self.pad_to_multiple or (CUDA_PAD_MULTIPLE if device_type == "cuda" else 1)

    def validate(self) -> None:
        for key in ("batch_tokens", "accumulate", "warmup_steps", "valid_every", "log_every", "max_nonfinite",
                    "keep_last"):
            _check(getattr(self, key) > 0, f"train.{key}", "must be positive")
        for key in ("max_steps", "max_epochs", "max_minutes", "patience", "threads", "valid_bleu_sentences",
                    "save_every", "average_last", "pad_to_multiple"):
            _check(getattr(self, key) >= 0, f"train.{key}", "must be zero or positive")
        _check(self.lr > 0, "train.lr", "must be positive")
        _check(self.compile or self.compile_mode == "default", "train.compile_mode",
               f"'{self.compile_mode}' needs train.compile: true")
        _check(self.pad_to_multiple <= MAX_PAD_MULTIPLE, "train.pad_to_multiple",
               f"at most {MAX_PAD_MULTIPLE} (8 is what tensor cores want)")
        _check(self.average_last <= self.keep_last, "train.average_last",
               f"averages kept checkpoints: raise train.keep_last to at least {self.average_last}")
        _check(self.schedule == "inverse_sqrt" or bool(self.max_steps or self.max_epochs or self.max_minutes),
               "train.schedule", f"'{self.schedule}' decays to zero at the end of training: set train.max_steps, "
               "train.max_epochs or train.max_minutes")
        _check(0.0 <= self.label_smoothing < 1.0, "train.label_smoothing", "must be in [0, 1)")
        _check(len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas), "train.betas",
               "must be two numbers in [0, 1)")


@dataclass(frozen=True)
class DecodeConfig:
    """Search settings for translate, eval, serve and validation BLEU (validation always decodes greedily). One
    path: the run's section, changed by :meth:`override` (the CLI's options and ``--set decode.KEY=VALUE``, a server
    request's fields, Python keyword arguments), travels to the search as it is."""

    beam_size: int = 5  # 1: greedy search
    length_penalty: float = 0.6  # GNMT alpha: score / ((5 + len) / 6) ** alpha; 0 disables
    max_len_a: float = 1.5  # output length limit: a * source length + b (subword tokens)
    max_len_b: int = 10
    batch_size: int = 64  # sentences per decoding batch (at most; on CUDA with batch_tokens auto: not a limit)
    # source tokens per decoding batch (sentences x longest source, padding counted), at most; 0: auto: 16384 on
    # CUDA (where batch_size then does not limit), none on a CPU (batch_size decides)
    batch_tokens: int = 0
    # the search's forward passes: fp32 (as fairseq, Marian and CTranslate2 by default), or bf16 autocast
    precision: Literal["fp32", "bf16"] = "fp32"
    n_best: int = 1  # hypotheses returned per line (at most beam_size; with sampling: samples per line)
    sampling: str = "none"  # none (search), topk:K (the K most likely tokens) or topp:P (nucleus, 0 < P <= 1)
    temperature: float = 1.0  # sampling: divides the log-probabilities before the draw
    seed: int = 0  # sampling: the same seed, lines and batch size draw the same samples
    glossary: dict[str, str] = field(default_factory=dict)  # source term -> target term the output must contain
    # each sentence of a line is one model input, rejoined with the line's own gaps (False: a line is one input);
    # a sentence past the model's positions is cut at its best breaks either way, never truncated
    split_sentences: bool = True
    # numbers, times, prices, e-mail addresses, URLs, paths, versions, codes, `code` reach the model as
    # placeholders and come out as typed (runs whose tokenizer has the placeholder pieces: tokenizer.placeholders)
    verbatim: bool = True

    def validate(self) -> None:
        _check(self.beam_size >= 1, "decode.beam_size", "the beam size must be at least 1 (1 is greedy search)")
        _check(self.length_penalty >= 0, "decode.length_penalty", "must be zero (no penalty) or positive")
        _check(self.batch_size >= 1, "decode.batch_size", "must be at least 1")
        _check(self.batch_tokens >= 0, "decode.batch_tokens", "must be zero (auto) or positive")
        _check(self.max_len_a >= 0 and self.max_len_b >= 1, "decode.max_len_b",
               "need max_len_a >= 0 and max_len_b >= 1")
        _check(self.n_best >= 1, "decode.n_best", "must be at least 1")
        _check(self.n_best <= self.beam_size or self.sampling != "none", "decode.n_best",
               f"{self.n_best} exceeds the beam size {self.beam_size}; raise the beam")
        self.sampler()
        _check(self.temperature > 0, "decode.temperature", "must be positive (1: the model's distribution)")
        _check(all(s.strip() and t.strip() for s, t in self.glossary.items()), "decode.glossary",
               "a source or target term is empty")
        _check(not (self.glossary and self.sampling != "none"), "decode.glossary",
               "glossary terms need (beam) search; drop the glossary or decode.sampling")

    def batch_limits(self, device_type: str) -> tuple[int, int]:
        """(sentences, source tokens) a decoding batch holds at most on this kind of device (0: no limit)."""
        if self.batch_tokens:
            return self.batch_size, self.batch_tokens
        return (0, CUDA_DECODE_TOKENS) if device_type == "cuda" else (self.batch_size, 0)


    def sampler(self) -> tuple[int, float] | None:
        """(top_k, top_p) of ``sampling`` (0 and 1.0: no cut), None for search."""
        if self.sampling == "none":
            return None
        kind, _, value = self.sampling.partition(":")
        try:
            if kind == "topk" and int(value) >= 1:
                return int(value), 1.0
            if kind == "topp" and 0 < float(value) <= 1:
                return 0, float(value)
        except ValueError:
            pass
        reason = f"{self.sampling!r}: write none, topk:K (K >= 1) or topp:P (0 < P <= 1)"
        raise ConfigError(f"decode.sampling: {reason}", "decode.sampling", reason)

    def override(self, changes: Mapping[str, Any]) -> DecodeConfig:
        """These settings with ``changes`` (field name -> value; None keeps the value), type-checked and
        validated: the one way decode settings are changed."""
        raw = dataclasses.asdict(self) | {k: v for k, v in changes.items() if v is not None}
        decode = from_dict(DecodeConfig, raw, "decode.")
        decode.validate()
        return decode


@dataclass
class Config:
    """The whole run: each component receives only its own section."""

    name: str = "tatoeba-en-de"  # run directory: <runs_root>/<name> (from a file: its name, unless it sets one)
    runs_root: str = DEFAULT_RUNS_ROOT
    model: ModelConfig = field(default_factory=ModelConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)

    def validate(self) -> None:
        _check(bool(self.name) and "/" not in self.name, "name", "must be a non-empty name without '/'")
        for section in (self.model, self.tokenizer, self.data, self.train, self.decode):
            section.validate()
        _check(not self.model.tie_embeddings or self.tokenizer.joint or self.tokenizer.vocab is not None,
               "model.tie_embeddings", "tying source and target embeddings needs tokenizer.joint: true (or "
               "tie only the target embedding and the output: model.tie_embeddings: false, model.tie_output: true) "
               "(or a shared id table, tokenizer.vocab)")
        t = self.train
        _check(t.schedule == "inverse_sqrt" or not self.data.streaming or bool(t.max_steps or t.max_minutes),
               "train.schedule", f"'{t.schedule}' with data.streaming needs train.max_steps or train.max_minutes "
               "(a stream's epoch length is not known in advance)")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"{key}: {message}", key, message)


# ---------------------------------------------------------------- loading


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Load a YAML config (default: configs/tatoeba-en-de.yaml, else built-in defaults), apply overrides, validate."""
    source = "defaults"
    raw: dict[str, Any] = {}
    if path is None and DEFAULT_CONFIG.exists():
        path = DEFAULT_CONFIG
    if path is not None and not Path(path).is_file() and Path(path).parent in (Path(), Path("configs")) and \
            (SHIPPED_CONFIGS / Path(path).name).is_file():
        path = SHIPPED_CONFIGS / Path(path).name  # `configs/NAME.yaml` works outside a checkout too
    if path is not None:
        source = str(path)
        raw = read_yaml(Path(path))
        raw.setdefault("name", Path(path).stem)  # two recipes without a name never share a run directory
        preset = raw.pop("preset", None)
        if preset is not None:
            raw = _deep_merge(read_yaml(_find_preset(str(preset), Path(path))), raw)
    for item in overrides or []:
        _apply_override(raw, item)
    if overrides:
        source = f"{source} (with --set)"
    try:
        cfg = from_dict(Config, raw, "")
        cfg.validate()
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None
    return cfg


def decode_sets(items: list[str]) -> dict[str, Any]:
    """``--set decode.KEY=VALUE`` items (translate, eval and serve change decode settings only) as
    :meth:`DecodeConfig.override` changes, values read as YAML."""
    raw: dict[str, Any] = {}
    for item in items:
        if not item.startswith("decode."):
            raise ConfigError(f"--set {item!r}: this command changes decode settings only: --set decode.KEY=VALUE "
                              f"({', '.join(f.name for f in dataclasses.fields(DecodeConfig))})")
        _apply_override(raw, item)
    return raw.get("decode", {})


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping; errors name the file and line."""
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found; pass an existing YAML file (see configs/)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{path}:{where}: invalid YAML: {problem}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; save the config as UTF-8") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level")
    return data


def save_config(cfg: Config, path: Path) -> None:
    """Write the resolved config as YAML, atomically."""
    from nmt.files import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False, allow_unicode=True))


def _find_preset(name: str, config_path: Path) -> Path:
    for folder in (config_path.parent / "presets", config_path.parent, SHIPPED_CONFIGS / "presets"):
        candidate = folder / f"{name}.yaml"
        if candidate.is_file() and candidate.resolve() != config_path.resolve():  # never the config itself
            return candidate
    known = sorted(p.stem for p in (SHIPPED_CONFIGS / "presets").glob("*.yaml"))
    raise ConfigError(f"{config_path}: preset: unknown preset '{name}'; choose one of {known}")


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _apply_override(raw: dict[str, Any], item: str) -> None:
    key, sep, text = item.partition("=")
    if not sep or not key:
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set model.encoder_layers=6")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        value = text
    node = raw
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {item!r}: '{part}' is not a section")
    node[parts[-1]] = value


def from_dict(cls: type, raw: Any, prefix: str) -> Any:
    """Build dataclass ``cls`` from a mapping, checking every key and type."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in raw.items():
        path = f"{prefix}{key}"
        if key not in names:
            near = difflib.get_close_matches(str(key), names, n=1, cutoff=0.5)
            hint = f"; did you mean '{prefix}{near[0]}'?" if near else f"; valid keys: {', '.join(names)}"
            raise ConfigError(f"{path}: unknown key{hint}")
        kwargs[key] = _convert(hints[key], value, path)
    return cls(**kwargs)


def _convert(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, f"{path}.")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value, path)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{path}: {value!r} is not one of {list(args)}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{path}: expected a list, got {value!r}")
        return [_convert(args[0], v, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {value!r}")
        return {str(k): _convert(args[1], v, f"{path}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {tp} at {path}")  # a bug in nmt, not user input
