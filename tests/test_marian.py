"""`nmt import`: a Marian model in the Hugging Face format (a small MarianMTModel built and briefly trained here, with
tiny SentencePiece models) becomes an nmt run whose teacher-forced logits, greedy and beam outputs (ids and text) equal
transformers' own; pickled weights are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sentencepiece as spm
import torch

from nmt.data import pad
from nmt.errors import NmtError
from nmt.marian import import_marian
from nmt.search import beam_search, greedy_search
from nmt.translate import Translator

transformers = pytest.importorskip("transformers")

WORDS = ("the a house dog cat runs sleeps small big red green blue over under near far tree river man woman "
         "child sees eats drinks water bread").split()
SENTENCES = 60
LIMIT = 40  # output tokens, </s> included: max_len_a 0, max_len_b 40 in nmt; max_new_tokens 40 in transformers


def _sentences(seed: int, n: int) -> list[str]:
    g = torch.Generator().manual_seed(seed)
    return [" ".join(WORDS[int(i)] for i in torch.randint(len(WORDS), (int(k),), generator=g))
            for k in torch.randint(2, 9, (n,), generator=g)]


def _spm(path: Path, lines: list[str], vocab_size: int) -> list[str]:
    """A SentencePiece model with Marian's special ids (<unk> 0, <s> 1, </s> 2, no <pad>); returns its pieces."""
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_prefix=str(path.with_suffix("")),
                                   vocab_size=vocab_size, hard_vocab_limit=False, minloglevel=2,
                                   unk_id=0, bos_id=1, eos_id=2, pad_id=-1)
    path.with_suffix(".model").rename(path)
    sp = spm.SentencePieceProcessor(model_file=str(path))
    return [sp.id_to_piece(i) for i in range(sp.get_piece_size())]


@pytest.fixture(scope="module")
def marian(tmp_path_factory):
    """(folder, HF model, MarianTokenizer): a small Marian en->de model saved as Hugging Face does."""
    folder = tmp_path_factory.mktemp("opus-mt-en-de")
    src_text = _sentences(0, 400)
    tgt_text = [" ".join(w[::-1] for w in line.split()) for line in src_text]  # another "language"
    pieces = _spm(folder / "source.spm", src_text, 60) + _spm(folder / "target.spm", tgt_text, 60)
    vocab = {"</s>": 0, "<unk>": 1}
    for piece in pieces:
        if piece not in ("<s>", "</s>", "<unk>"):
            vocab.setdefault(piece, len(vocab))
    vocab["<pad>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    config = transformers.MarianConfig(
        vocab_size=len(vocab), d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
        decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, activation_function="swish",
        scale_embedding=True, max_position_embeddings=64, pad_token_id=vocab["<pad>"], eos_token_id=0,
        decoder_start_token_id=vocab["<pad>"], forced_eos_token_id=0)
    torch.manual_seed(0)
    model = transformers.MarianMTModel(config)
    with torch.no_grad():
        model.final_logits_bias.copy_(0.3 * torch.randn_like(model.final_logits_bias))  # checked by the parity
    tokenizer = transformers.MarianTokenizer(vocab=str(folder / "vocab.json"), source_spm=str(folder / "source.spm"),
                                             target_spm=str(folder / "target.spm"), source_lang="en",
                                             target_lang="de")
    # a little training on the made-up pairs, so that outputs depend on the input and end at varied lengths (a
    # random model repeats one token to the length limit)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for step in range(150):
        rows = slice(32 * step % 384, 32 * step % 384 + 32)
        batch = tokenizer(src_text[rows], text_target=tgt_text[rows], return_tensors="pt", padding=True)
        batch["labels"][batch["labels"] == config.pad_token_id] = -100
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    model.save_pretrained(folder, safe_serialization=True)
    return folder, model, tokenizer


@pytest.fixture(scope="module")
def imported(marian, tmp_path_factory):
    folder = marian[0]
    run = tmp_path_factory.mktemp("runs") / "opus-mt-en-de"
    assert import_marian(str(folder), run, "en", "de") == run
    return Translator.load(run, device="cpu")  # transformers and CTranslate2 run on the CPU here


def _hf_generate(marian, lines: list[str], beams: int) -> list[list[int]]:
    _, model, tokenizer = marian
    batch = tokenizer(lines, return_tensors="pt", padding=True)
    pad_id = model.config.pad_token_id
    out = model.generate(**batch, num_beams=beams, do_sample=False, length_penalty=0.0, early_stopping=True,
                         max_new_tokens=LIMIT, min_new_tokens=1, bad_words_ids=[[pad_id]], forced_eos_token_id=0,
                         num_return_sequences=1)
    rows = []
    for row in out.tolist():
        row = row[1:]  # the decoder start token
        rows.append(row[: row.index(0)] if 0 in row else [t for t in row if t != pad_id])
    return rows


def _to_marian(translator: Translator, ids: list[int], vocab: dict[str, int]) -> list[int]:
    return [vocab[piece] for piece in translator.tok.tgt_pieces(ids)]


def test_teacher_forced_logits_equal_transformers(marian, imported):
    _, model, tokenizer = marian
    lines = _sentences(1, 8)
    batch = tokenizer(lines, text_target=[" ".join(w[::-1] for w in s.split()) for s in lines],
                      return_tensors="pt", padding=True)
    labels = batch.pop("labels")
    pad_id = model.config.pad_token_id
    decoder_in = torch.cat([torch.full((labels.size(0), 1), pad_id), labels[:, :-1]], dim=1)
    decoder_in[decoder_in == -100] = pad_id
    with torch.no_grad():
        theirs = model(**batch, decoder_input_ids=decoder_in).logits  # (B, T, V) Marian ids
    tok, net = imported.tok, imported.model
    vocab = json.loads((marian[0] / "vocab.json").read_text())
    order = torch.tensor([vocab[piece] for piece in tok.tgt_vocab()])  # nmt id -> Marian id
    to_nmt = torch.empty_like(order)
    to_nmt[order] = torch.arange(order.numel())
    src = pad(tok.encode_src(lines))
    assert torch.equal(to_nmt[batch["input_ids"]][:, : src.size(1)], src)  # same source ids, same padding
    with torch.no_grad():
        ours = net(src, to_nmt[decoder_in])  # (B, T, V) nmt ids
    real = decoder_in != pad_id
    real[:, 0] = True  # the start position
    diff = (ours - theirs[..., order])[real].abs().max()
    assert diff < 1e-5, f"logits differ by {diff}"


@pytest.mark.parametrize("beams", [1, 4])
def test_greedy_and_beam_outputs_equal_generate(marian, imported, beams):
    lines = _sentences(2, SENTENCES)
    theirs = _hf_generate(marian, lines, beams)
    vocab = json.loads((marian[0] / "vocab.json").read_text())
    src = pad(imported.tok.encode_src(lines))
    if beams == 1:
        hyps = [h.tokens for h in greedy_search(imported.model, src, 0.0, LIMIT, 1, 64)]
    else:
        hyps = [nb[0].tokens for nb in beam_search(imported.model, src, beams, 0.0, 0.0, LIMIT, 1, 1, 64)]
    ours = [_to_marian(imported, h, vocab) for h in hyps]
    assert ours == theirs
    lengths = {len(h) for h in hyps}
    assert len(lengths) > 3 and max(lengths) < LIMIT - 1  # varied lengths, all ended by </s> before the limit
    texts = imported.translate(lines, beams, length_penalty=0.0, max_len_a=0.0, max_len_b=LIMIT)
    assert [nb[0][0] for nb in texts] == marian[2].batch_decode([[*t, 0] for t in theirs], skip_special_tokens=True)


def test_training_batches_give_transformers_loss(marian, imported):
    """nmt's training path (batches that start from <pad>, the loss over real target tokens) computes the loss
    transformers computes for the same pairs: fine-tuning an imported model continues what it learned."""
    from nmt.data import collate
    from nmt.trainer import batch_loss

    _, model, tokenizer = marian
    src = _sentences(4, 16)
    tgt = [" ".join(w[::-1] for w in s.split()) for s in src]
    batch = tokenizer(src, text_target=tgt, return_tensors="pt", padding=True)
    batch["labels"][batch["labels"] == model.config.pad_token_id] = -100
    with torch.no_grad():
        theirs = float(model(**batch).loss)  # mean cross-entropy per target token, </s> included
        ours = collate(imported.tok.encode_src(src), imported.tok.encode_tgt(tgt), imported.model.start_id)
        assert bool((ours.tgt_in[:, 0] == 0).all())  # <pad> starts the decoder input
        loss = float(batch_loss(imported.model, ours, 0.0)) / ours.tgt_tokens
    assert abs(loss - theirs) < 1e-5


def test_imported_run_fine_tunes_and_exports_like_any_run(marian, imported, tmp_path):
    import nmt

    src = _sentences(5, 200)
    for name, rows in (("train", slice(0, 180)), ("valid", slice(180, 200))):
        (tmp_path / f"{name}.en").write_text("\n".join(src[rows]) + "\n")
        (tmp_path / f"{name}.de").write_text("\n".join(" ".join(w[::-1] for w in s.split()) for s in src[rows]) + "\n")
    run = imported.run_dir
    tuned = nmt.train(run / "config.yaml", ["data.corpus=null", f"data.train={tmp_path}/train",
                                            f"data.valid={tmp_path}/valid", "train.max_steps=4", "train.valid_every=4",
                                            f"train.init_from={run}"], run_dir=tmp_path / "tuned")
    assert tuned.steps == 4 and (tmp_path / "tuned" / "vocab.json").read_bytes() == (run / "vocab.json").read_bytes()
    assert len(nmt.Translator.load(tmp_path / "tuned")(src[:3])) == 3
    pytest.importorskip("ctranslate2")
    from nmt.ct2 import CT2Translator, export_ctranslate2
    from nmt.run import load_run

    out = export_ctranslate2(run, tmp_path / "ct2")
    engine = CT2Translator(load_run(run, None), out)
    lines = _sentences(6, 20)
    for beam in (1, 4):
        assert engine.translate(lines, beam) == imported(lines, beam)


def test_pickled_weights_are_refused(marian, tmp_path):
    folder = tmp_path / "bin-only"
    folder.mkdir()
    for name in ("config.json", "source.spm", "target.spm", "vocab.json"):
        (folder / name).write_bytes((marian[0] / name).read_bytes())
    (folder / "pytorch_model.bin").write_bytes(b"not unpickled")
    with pytest.raises(NmtError, match="safetensors"):
        import_marian(str(folder), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_unsupported_marian_settings_name_the_key(marian, tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    for path in marian[0].iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    hf = json.loads((folder / "config.json").read_text())
    hf["scale_embedding"] = False
    (folder / "config.json").write_text(json.dumps(hf))
    with pytest.raises(NmtError, match="scale_embedding"):
        import_marian(str(folder), tmp_path / "run", "en", "de")


def test_pieces_only_the_source_model_knows_are_decoded_as_transformers_does(marian, imported):
    vocab = json.loads((marian[0] / "vocab.json").read_text())
    tok = imported.tok
    unknown = tok.tgt.unk_id()
    words = [p for p in tok.tgt_vocab() if p.startswith("▁") and len(p) > 2]
    only_src = [p for p in words if tok.tgt.piece_to_id(p) == unknown and tok.src.piece_to_id(p) != tok.src.unk_id()]
    only_tgt = [p for p in words if tok.tgt.piece_to_id(p) != unknown]
    assert len(only_src) >= 2 and len(only_tgt) >= 2  # the made-up target language shares no words with English
    pieces = [only_tgt[0], only_src[0], only_src[1], only_tgt[1]]
    ours = tok.decode_tgt([[tok.table[p] for p in pieces]])[0]
    theirs = marian[2].decode([vocab[p] for p in pieces], skip_special_tokens=True)
    assert "▁" not in ours and ours == theirs


def test_the_languages_come_from_tokenizer_config_then_the_name(marian, tmp_path):
    import shutil

    from nmt.config import load_config

    folder = tmp_path / "my-model"  # a name without languages
    shutil.copytree(marian[0], folder)
    with pytest.raises(NmtError, match="give the languages with --src and --tgt"):
        import_marian(str(folder), tmp_path / "runs" / "none")
    marian[2].save_pretrained(folder)  # MarianTokenizer writes source_lang/target_lang into tokenizer_config.json
    run = import_marian(str(folder), tmp_path / "runs" / "saved")
    cfg = load_config(run / "config.yaml")
    assert (cfg.data.src_lang, cfg.data.tgt_lang) == ("en", "de")
