"""SentencePiece: fixed special ids, joint or separate vocabularies, a shared id table, existing models reused,
stored in the run directory; the `nmt tokenizer` commands."""

import pytest
import sentencepiece as spm

from nmt.config import TokenizerConfig
from nmt.constants import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from nmt.errors import NmtError
from nmt.tokenizer import Tokenizer, train_tokenizer

SRC = [f"the cat number {i} sits on the mat" for i in range(200)]
TGT = [f"die Katze Nummer {i} sitzt auf der Matte" for i in range(200)]


@pytest.mark.parametrize("kind", ["unigram", "bpe"])
def test_train_save_load_round_trip(tmp_path, kind):
    tok = train_tokenizer(TokenizerConfig(type=kind, vocab_size=100), list(zip(SRC, TGT)), seed=1)
    assert tok.joint
    for sp in (tok.src, tok.tgt):
        assert (sp.pad_id(), sp.unk_id(), sp.bos_id(), sp.eos_id()) == (PAD_ID, UNK_ID, BOS_ID, EOS_ID)
    tok.save(tmp_path)
    again = Tokenizer.load(tmp_path)
    ids = again.encode_src(["the cat sits"])[0]
    assert ids[-1] == EOS_ID and ids == tok.encode_src(["the cat sits"])[0]
    assert again.decode_tgt(again.encode_tgt(["die Katze sitzt"])) == ["die Katze sitzt"]


def test_separate_vocabularies(tmp_path):
    tok = train_tokenizer(TokenizerConfig(vocab_size=60, joint=False), list(zip(SRC, TGT)), seed=1)
    assert not tok.joint
    tok.save(tmp_path)
    assert not Tokenizer.load(tmp_path, joint=False).joint
    assert "Katze" not in "".join(tok.src.id_to_piece(i) for i in range(tok.src_vocab_size))


def _table_tokenizer() -> Tokenizer:
    """Two per-side models whose pieces share one id table (as Marian's vocab.json)."""
    src = train_tokenizer(TokenizerConfig(vocab_size=60, joint=False), list(zip(SRC, TGT)), seed=1)
    pieces = [p for sp in (src.src, src.tgt) for p in (sp.id_to_piece(i) for i in range(sp.get_piece_size()))]
    table = {"<pad>": 0, "<unk>": 1, "<s>": 2, "</s>": 3}
    for piece in pieces:
        table.setdefault(piece, len(table))
    return Tokenizer(src.src, src.tgt, table)


def test_a_shared_id_table_gives_the_ids_of_both_sides(tmp_path):
    tok = _table_tokenizer()
    assert tok.src_vocab_size == tok.tgt_vocab_size == len(tok.table)
    ids = tok.encode_src(["the cat sits"])[0]
    assert tok.src_pieces(ids[:-1]) == tok.src.encode("the cat sits", out_type=str) and ids[-1] == EOS_ID
    assert tok.decode_tgt(tok.encode_tgt(["die Katze sitzt"])) == ["die Katze sitzt"]
    tok.save(tmp_path)
    again = Tokenizer.load(tmp_path, joint=False)
    assert again.table == tok.table and again.encode_tgt(["die Katze"]) == tok.encode_tgt(["die Katze"])


def test_an_id_table_without_nmt_special_ids_is_refused():
    tok = _table_tokenizer()
    table = dict(tok.table)
    table["</s>"], table["<pad>"] = table["<pad>"], table["</s>"]
    with pytest.raises(NmtError, match="the id table must give <pad>=0"):
        Tokenizer(tok.src, tok.tgt, table, "vocab.json")


def test_existing_models_are_reused_and_special_ids_checked(tmp_path):
    tok = train_tokenizer(TokenizerConfig(vocab_size=100), list(zip(SRC, TGT)), seed=1)
    tok.save(tmp_path)
    again = Tokenizer.from_config(TokenizerConfig(model=str(tmp_path / "spm.model")))
    assert again.encode_src(["the cat"]) == tok.encode_src(["the cat"])
    spm.SentencePieceTrainer.train(sentence_iterator=iter(SRC + TGT), model_prefix=str(tmp_path / "other"),
                                   vocab_size=60, hard_vocab_limit=False, minloglevel=2)
    # SentencePiece's own ids (<unk> 0, <s> 1, </s> 2), not nmt's
    with pytest.raises(NmtError, match=r"tokenizer.model: .*other.model: special ids \(pad, unk, bos, eos\)"):
        Tokenizer.from_config(TokenizerConfig(model=str(tmp_path / "other.model")))
    with pytest.raises(NmtError, match="tokenizer.src_model: .*missing"):
        Tokenizer.from_config(TokenizerConfig(joint=False, src_model="nope.model", tgt_model="nope.model"))


def test_tokenizer_commands_train_encode_decode(tmp_path):
    """`nmt tokenizer train` writes the model a config describes into the run directory, where `nmt train`
    reuses it; `encode`/`decode` show pieces and ids and turn them back into text."""
    from typer.testing import CliRunner

    import nmt
    from nmt.cli import app
    from tests.conftest import write_synthetic_corpus

    config = tmp_path / "synth.yaml"
    config.write_text(write_synthetic_corpus(tmp_path))
    run = tmp_path / "runs" / "synth"
    runner = CliRunner()
    done = runner.invoke(app, ["tokenizer", "train", str(config), "--out", str(run)])
    assert done.exit_code == 0, done.output
    assert "coverage 100.00%" in done.output and "pieces per sentence" in done.output
    model = (run / "spm.model").read_bytes()
    again = runner.invoke(app, ["tokenizer", "train", str(config), "--out", str(run)])
    assert again.exit_code == 2 and "already holds a tokenizer" in again.output
    nmt.train(config, ["train.max_steps=2", "train.valid_every=2"], run_dir=run)
    assert (run / "spm.model").read_bytes() == model  # reused, not retrained
    pieces = runner.invoke(app, ["tokenizer", "encode", "w1 w2", "--run", str(run)])
    assert pieces.exit_code == 0 and pieces.output.strip().startswith("▁w")
    ids = runner.invoke(app, ["tokenizer", "encode", "w1x w2x", "--run", str(run), "--side", "tgt", "--ids"])
    text = runner.invoke(app, ["tokenizer", "decode", ids.output.strip(), "--run", str(run)])
    assert text.exit_code == 0 and text.output.strip() == "w1x w2x"
    text = runner.invoke(app, ["tokenizer", "decode", pieces.output.strip(), "--run", str(run), "--side", "src"])
    assert text.output.strip() == "w1 w2"


def test_per_side_vocabulary_sizes(tmp_path):
    cfg = TokenizerConfig(vocab_size=60, joint=False, src_vocab_size=40, tgt_vocab_size=30, placeholders=False,
                          split_digits=False)  # this corpus supports 40 pieces only with whole numbers
    tok = train_tokenizer(cfg, list(zip(SRC, TGT)), seed=1)
    assert (tok.src_vocab_size, tok.tgt_vocab_size) == (40, 30)
    tok.save(tmp_path)
    again = Tokenizer.load(tmp_path, joint=False)
    assert (again.src_vocab_size, again.tgt_vocab_size) == (40, 30)
    assert again.decode_src([again.encode_src(["the cat number 7 sits"])[0][:-1]]) == ["the cat number 7 sits"]
    assert again.decode_tgt(again.encode_tgt(["die Katze Nummer 7 sitzt"])) == ["die Katze Nummer 7 sitzt"]


def test_per_side_sizes_need_per_side_models():
    from nmt.config import load_config

    with pytest.raises(NmtError, match="tokenizer.src_vocab_size: per-side sizes need per-side models"):
        load_config(None, ["tokenizer.joint=true", "model.tie_embeddings=true", "tokenizer.src_vocab_size=16000"])
    cfg = load_config(None, ["tokenizer.joint=false", "tokenizer.src_vocab_size=16000", "model.tie_embeddings=false",
                             "model.tie_output=true"])
    assert cfg.tokenizer.src_vocab_size == 16000


def test_placeholders_are_one_piece_each_and_digits_are_pieces_of_their_own():
    from nmt.verbatim import PLACEHOLDERS

    tok = train_tokenizer(TokenizerConfig(vocab_size=120), list(zip(SRC * 3, TGT * 3)), seed=1)
    assert tok.placeholders is not None and len(tok.placeholders) == len(PLACEHOLDERS)
    ids = tok.encode_src(["the cat ⟦1⟧ sits ⟦12⟧"])[0]
    pieces = tok.src_pieces(ids)
    assert "⟦1⟧" in pieces and "⟦12⟧" in pieces
    assert [p for p in tok.src_pieces(tok.encode_src(["number 2024"])[0]) if any(c.isdigit() for c in p)] == \
        ["2", "0", "2", "4"]
    assert tok.digit_pieces[tok.placeholders[0]] is False
    off = train_tokenizer(TokenizerConfig(vocab_size=120, placeholders=False), list(zip(SRC * 3, TGT * 3)), seed=1)
    assert off.placeholders is None
