"""SentencePiece: fixed special ids, joint or separate vocabularies, stored in the run directory."""

import pytest

from nmt.config import TokenizerConfig
from nmt.constants import BOS_ID, EOS_ID, PAD_ID, UNK_ID
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
