"""Named corpora: data roots, the deterministic Tatoeba split, checksum-checked downloads."""

import gzip
import hashlib
import io
import zipfile

import pytest

from nmt import corpora
from nmt.corpora import ZipSource, data_roots, load_splits, tatoeba_split_of
from nmt.errors import NmtError
from tests.conftest import SHARED_DATA, needs_shared


def _tatoeba_root(tmp_path, lines):
    (tmp_path / "tatoeba").mkdir()
    (tmp_path / "tatoeba" / "eng-deu.tsv").write_text("".join(f"{a}\t{b}\n" for a, b in lines), encoding="utf-8")
    return str(tmp_path)


def test_data_root_order(monkeypatch, tmp_path):
    monkeypatch.setenv("NMT_DATA", str(tmp_path))
    assert data_roots(None) == [tmp_path]
    assert data_roots("/x") == [__import__("pathlib").Path("/x")]
    monkeypatch.delenv("NMT_DATA")
    assert [str(p) for p in data_roots(None)[:2]] == ["data", "../shared/data"]


def test_tatoeba_split_keeps_duplicates_of_a_source_together(tmp_path):
    english = [f"Sentence number {i}." for i in range(3000)]
    lines = [(e, f"Satz {i} {k}") for i, e in enumerate(english) for k in range(2)]  # every source twice
    lines += [(e.upper() + "  ", "variant") for e in english[:500]]  # case/space variants of the same source
    splits = load_splits("tatoeba", "en", "de", _tatoeba_root(tmp_path, lines))
    sides = {}
    for name, data in (("train", splits.train), ("valid", splits.valid), ("test", splits.tests["tatoeba-test"])):
        for src in data.src:
            sides.setdefault(" ".join(src.split()).lower(), set()).add(name)
    assert all(len(s) == 1 for s in sides.values())
    assert len(splits.valid) > 20 and len(splits.tests["tatoeba-test"]) > 20
    assert len(splits.train) + len(splits.valid) + len(splits.tests["tatoeba-test"]) == len(lines)
    assert tatoeba_split_of("Sentence number 7.") == tatoeba_split_of("  sentence NUMBER 7. ")


def test_tatoeba_reverse_direction_swaps_columns(tmp_path):
    splits = load_splits("tatoeba", "de", "en", _tatoeba_root(tmp_path, [("Hi.", "Hallo!")] * 3))
    data = splits.train or splits.valid
    assert data.src[0] == "Hallo!" and data.tgt[0] == "Hi."


def test_unknown_corpus_and_pair(tmp_path):
    with pytest.raises(NmtError, match="unknown corpus"):
        load_splits("wmt99", "en", "de", str(tmp_path))
    with pytest.raises(NmtError, match="en-de and en-fr"):
        load_splits("tatoeba", "de", "fr", str(tmp_path))


def test_download_checks_sha256_and_writes_atomically(tmp_path, monkeypatch):
    payload = b"Hi.\tHallo!\nRun!\tLauf!\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("deu.txt", payload)
    archive = tmp_path / "deu-eng.zip"
    archive.write_bytes(buffer.getvalue())
    root = tmp_path / "root"
    good = ZipSource(archive.as_uri(), hashlib.sha256(buffer.getvalue()).hexdigest(), "deu.txt")
    monkeypatch.setitem(corpora.TATOEBA, "deu", ZipSource(good.url, "0" * 64, good.member))
    with pytest.raises(NmtError, match="checksum mismatch"):
        load_splits("tatoeba", "en", "de", str(root))
    assert not (root / "tatoeba" / "eng-deu.tsv").exists()
    monkeypatch.setitem(corpora.TATOEBA, "deu", good)
    load_splits("tatoeba", "en", "de", str(root))
    assert (root / "tatoeba" / "eng-deu.tsv").read_bytes() == payload
    with pytest.raises(NmtError, match="not found"):
        load_splits("tatoeba", "en", "fr", str(root), download=False)


def test_multi30k_download_gunzips(tmp_path, monkeypatch):
    src = tmp_path / "src"
    src.mkdir()
    sums = {}
    for split in ("train", "val", "test_2016_flickr"):
        for lang in ("en", "de"):
            text = f"{split} {lang}\n".encode()
            (src / f"{split}.{lang}.gz").write_bytes(gzip.compress(text))
            sums[f"{split}.{lang}"] = hashlib.sha256(text).hexdigest()
    monkeypatch.setattr(corpora, "MULTI30K_URL", src.as_uri() + "/{name}.gz")
    monkeypatch.setattr(corpora, "MULTI30K_SHA256", sums)
    splits = load_splits("multi30k", "en", "de", str(tmp_path / "root"))
    assert splits.train.src == ["train en"] and splits.tests["test_2016_flickr"].tgt == ["test_2016_flickr de"]


@needs_shared
def test_shared_multi30k_is_found():
    splits = load_splits("multi30k", "de", "en", str(SHARED_DATA), download=False)
    assert (len(splits.train), len(splits.valid), len(splits.tests["test_2016_flickr"])) == (29000, 1014, 1000)
