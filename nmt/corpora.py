"""Named corpora (tatoeba, multi30k, ding): where local copies are found, how they are fetched and split; extra
training pairs mixed into a recipe (``data.extra``).

A corpus is looked for under, in order: ``data.root`` from the config, else ``$NMT_DATA``, else ``./data`` and
``../shared/data`` (a checkout with a shared corpora folder beside it). When it is missing, it is downloaded
(pinned URL, progress bar, SHA-256 check) into the first of those roots.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import random
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from nmt.config import ExtraData
from nmt.constants import DATA_ENV
from nmt.data import Parallel, Splits, clean, read_dataset, read_pair, read_parallel, read_tsv
from nmt.errors import NmtError

REPO_ROOT = Path(__file__).resolve().parent.parent

MULTI30K_URL = "https://raw.githubusercontent.com/multi30k/dataset/a3d2e0d26b56f3846f66a952536ffed4e401d05a/data/task1/raw/{name}.gz"
MULTI30K_SHA256 = {
    "test_2016_flickr.cs": "45adb85f688de8407fddcbe1b36dca15d12aab868149b337e2576f2d6d2ff8d8",
    "test_2016_flickr.de": "4be6b5b3236b79c25475c6bb829800a7ce559e9ba7a1f6c2394fe4d40be46d16",
    "test_2016_flickr.en": "399a4382932c1aadd3ceb9bef1008d388a64c76d4ae4e9d4728c6f4301cac182",
    "test_2016_flickr.fr": "cb3160d69b002bb638e66cc7612fcd56cb0af82eadc9c142dedc438afb885ef6",
    "train.cs": "2be68b38c8d586ff4f54eb13cc6e1baaaa053695b3f070d3038303a47f2268da",
    "train.de": "2c2b73fd2b548fbcde3a875e0a78d6ee94d498bfdee6bd3eae3945779e9ddf72",
    "train.en": "460a15fbd157e34a7a9957ee388c1ca247fe47af3ef25fb50442af6c274e0fc6",
    "train.fr": "5925a3c18f1587b6b54b87743106e6e8ab93618edb6f65d19eac0621f853a10d",
    "val.cs": "d53827e469b0a1ca8d57e9e26b2b64c4bc4b33f5479c7b03ae87ae5c882c3e33",
    "val.de": "660e09eb7e1da2f856ea13ee5ad3cf6d36b3d5b0b733c857e94c5747a3dfc660",
    "val.en": "1f2a23d992769b5b3d209b0a10dd0b77c08cceb1f20dfb97ed0aafa49d107227",
    "val.fr": "5304e444d842e962b2dda4d816b70b22a1765b15401642b7ca37a67477e708dc",
}


@dataclass(frozen=True)
class ZipSource:
    url: str
    sha256: str  # of the zip file
    member: str  # the manythings text file inside it


# manythings.org/anki files (Tatoeba, CC BY 2.0 FR), pinned to copies whose checksums are known.
TATOEBA = {
    "deu": ZipSource("https://github.com/rioyshky/translation/raw/de48b7027f7318d77010a6e08ed928c10748c23d/deu-eng.zip",
                     "b7688f84f99fa33c17397c14d8bd9cef1fdeb2ee0bf50074767023aee8926e28", "deu.txt"),
    "fra": ZipSource("https://github.com/modelexlab/data/raw/adddaf33ac35572bcfeb421efec29435e7ea9332/fra-eng.zip",
                     "161c93f18da3a7e6df611ed961426613260de8af06ccf8c79c977afe5135ac44", "fra-eng/fra.txt"),
}
ISO3 = {"en": "eng", "de": "deu", "fr": "fra"}
TATOEBA_SPLIT_SALT = "nmt-tatoeba-split-v1:"
TATOEBA_HELD_OUT_PER_MILLE = 10  # 1% validation, 1% test


def data_roots(root: str | None) -> list[Path]:
    """Where named corpora are looked for, in order; downloads go to the first."""
    if root:
        return [Path(root).expanduser()]
    if os.environ.get(DATA_ENV):
        return [Path(os.environ[DATA_ENV]).expanduser()]
    return [Path("data"), Path("../shared/data"), REPO_ROOT / "data", REPO_ROOT.parent / "shared" / "data"]


def load_splits(corpus: str | None, src_lang: str, tgt_lang: str, root: str | None,
                train: str | None = None, valid: str | None = None, tests: dict[str, str] | None = None,
                download: bool = True) -> Splits:
    """Train/valid/test data: a named corpus, with any explicit file specs taking its place split by split."""
    splits = Splits(None, None, {})
    if corpus is not None:
        if corpus not in NAMED:
            raise NmtError(f"data.corpus: unknown corpus '{corpus}'; choose one of {sorted(NAMED)} or null")
        splits = NAMED[corpus](src_lang, tgt_lang, root, download)
    if train:
        splits.train = read_dataset(train, src_lang, tgt_lang, "train")  # Arrow: memory-mapped, not in Python
    if valid:
        splits.valid = read_parallel(valid, src_lang, tgt_lang, "validation")
    for name, spec in (tests or {}).items():
        splits.tests[name] = read_parallel(spec, src_lang, tgt_lang, "test")
    return splits


def _find(relative: str, root: str | None) -> Path | None:
    for base in data_roots(root):
        if (base / relative).is_file():
            return base / relative
    return None


# ---------------------------------------------------------------- multi30k


def multi30k(src: str, tgt: str, root: str | None, download: bool = True) -> Splits:
    """Multi30k task 1: train (29k), val (1,014) and test_2016_flickr (1,000); en, de, fr, cs."""
    langs = {"en", "de", "fr", "cs"}
    if src not in langs or tgt not in langs:
        raise NmtError(f"data.src_lang/tgt_lang: multi30k has {sorted(langs)}, not {src}-{tgt}")
    paths = {}
    for split in ("train", "val", "test_2016_flickr"):
        for lang in (src, tgt):
            name = f"{split}.{lang}"
            found = _find(f"multi30k/{name}", root)
            if found is None:
                found = _fetch(f"multi30k/{name}", MULTI30K_URL.format(name=name), MULTI30K_SHA256[name], root,
                               download, gunzip=True)
            paths[name] = found

    def pair(split: str) -> Parallel:
        return read_pair(paths[f"{split}.{src}"], paths[f"{split}.{tgt}"])

    return Splits(pair("train"), pair("val"), {"test_2016_flickr": pair("test_2016_flickr")})


# ---------------------------------------------------------------- tatoeba


def tatoeba(src: str, tgt: str, root: str | None, download: bool = True) -> Splits:
    """Tatoeba (manythings.org) eng-deu / eng-fra with a deterministic 98/1/1 split by English sentence."""
    if "en" not in (src, tgt) or {src, tgt} - {"en", "de", "fr"}:
        raise NmtError(f"data.src_lang/tgt_lang: tatoeba has en-de and en-fr (either direction), not {src}-{tgt}")
    other = ISO3[tgt if src == "en" else src]
    relative = f"tatoeba/eng-{other}.tsv"
    path = _find(relative, root)
    if path is None:
        path = _fetch(relative, TATOEBA[other].url, TATOEBA[other].sha256, root, download, member=TATOEBA[other].member)
    pairs = read_tsv(path, swap=src != "en")
    english = pairs.src if src == "en" else pairs.tgt
    parts: dict[str, Parallel] = {k: Parallel([], [], f"{path} [{k}]") for k in ("train", "valid", "test")}
    for a, b, en in zip(pairs.src, pairs.tgt, english):
        part = parts[tatoeba_split_of(en)]
        part.src.append(a)
        part.tgt.append(b)
    return Splits(parts["train"], parts["valid"], {"tatoeba-test": parts["test"]})


def tatoeba_split_of(english: str) -> str:
    """'train', 'valid' or 'test' from a salted SHA-1 of the normalised English sentence, so every duplicate
    of a sentence (Tatoeba lists many translations of one English line) lands on the same side."""
    norm = clean(english).lower()
    bucket = int(hashlib.sha1((TATOEBA_SPLIT_SALT + norm).encode("utf-8")).hexdigest(), 16) % 1000
    if bucket < TATOEBA_HELD_OUT_PER_MILLE:
        return "valid"
    if bucket < 2 * TATOEBA_HELD_OUT_PER_MILLE:
        return "test"
    return "train"


# ---------------------------------------------------------------- ding


def ding(src: str, tgt: str, root: str | None, download: bool = True, all_synonyms: bool = False) -> Splits:
    """The Ding German-English dictionary as phrase pairs (training only: it has no validation or test split).
    Found under the data roots (ding/de-en.txt), then where Debian's trans-de-en package puts it; never
    downloaded (GPL-2.0+ data, read where it is)."""
    from nmt.ding import DEBIAN_PATH, HOW_TO_GET, read_ding

    if {src, tgt} != {"en", "de"}:
        raise NmtError(f"data.src_lang/tgt_lang: ding is German-English (either direction), not {src}-{tgt}")
    path = _find("ding/de-en.txt", root) or (DEBIAN_PATH if DEBIAN_PATH.is_file() else None)
    if path is None:
        raise NmtError(f"ding: the dictionary is not under {', '.join(map(str, data_roots(root)))} nor at "
                       f"{DEBIAN_PATH}; {HOW_TO_GET}")
    german, english = read_ding(path, all_synonyms)
    train = Parallel(english, german, str(path)) if src == "en" else Parallel(german, english, str(path))
    return Splits(train, None, {})


NAMED = {"multi30k": multi30k, "tatoeba": tatoeba, "ding": ding}


def extra_pairs(extras: list[ExtraData], src: str, tgt: str, root: str | None) -> Parallel:
    """The pairs of ``data.extra``, each source filtered, sampled (seeded) and repeated as its settings say; a
    corpus named by several entries is read once."""
    out = Parallel([], [], " + ".join(e.corpus for e in extras))
    loaded: dict[tuple[str, str], Parallel] = {}
    for i, extra in enumerate(extras):
        key = f"data.extra[{i}]"
        if (extra.corpus, extra.synonyms) in loaded:
            data = loaded[extra.corpus, extra.synonyms]
        elif extra.corpus in NAMED:
            loader = NAMED[extra.corpus]
            splits = (loader(src, tgt, root, all_synonyms=extra.synonyms == "all") if extra.corpus == "ding"
                      else loader(src, tgt, root))
            data = loaded[extra.corpus, extra.synonyms] = splits.train
        else:
            try:
                data = read_parallel(extra.corpus, src, tgt)
            except NmtError as err:
                raise NmtError(f"{key}.corpus: {err} (a named corpus is one of {sorted(NAMED)})") from None
        keep = [j for j, (a, b) in enumerate(zip(data.src, data.tgt)) if _wanted(a, b, extra)]
        if extra.max_pairs and len(keep) > extra.max_pairs:
            keep = sorted(random.Random(i).sample(keep, extra.max_pairs))
        for _ in range(extra.weight):
            out.src.extend(data.src[j] for j in keep)
            out.tgt.extend(data.tgt[j] for j in keep)
    return out


def _wanted(src: str, tgt: str, extra: ExtraData) -> bool:
    sentence = src.rstrip()[-1:] in (".", "!", "?")
    if extra.kind != "any" and sentence != (extra.kind == "sentences"):
        return False
    return not extra.max_words or max(len(src.split()), len(tgt.split())) <= extra.max_words


# ---------------------------------------------------------------- download


def _fetch(relative: str, url: str, sha256: str, root: str | None, download: bool,
           gunzip: bool = False, member: str | None = None) -> Path:
    """Download ``url`` into the first data root as ``relative``, checking its SHA-256; atomic."""
    roots = data_roots(root)
    if not download:
        raise NmtError(f"{relative}: not found under {', '.join(map(str, roots))}; set {DATA_ENV} or data.root "
                       "to a folder that has it")
    target = roots[0] / relative
    try:
        payload = _download(url)
    except OSError as err:
        raise NmtError(f"{relative}: not found under {', '.join(map(str, roots))} and the download from {url} failed "
                       f"({err}); set {DATA_ENV} or data.root to a folder that has it") from None
    if gunzip:
        payload = gzip.decompress(payload)
    digest = hashlib.sha256(payload).hexdigest()
    if digest != sha256:
        raise NmtError(f"{url}: checksum mismatch (sha256 {digest}, expected {sha256}); nothing was saved")
    if member is not None:
        payload = zipfile.ZipFile(io.BytesIO(payload)).read(member)
    from nmt.files import atomic_write_bytes

    atomic_write_bytes(target, payload)
    return target


def _download(url: str) -> bytes:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - pinned https URLs (file: in tests)
        total = int(response.headers.get("Content-Length") or 0) or None
        buffer = io.BytesIO()
        columns = (TextColumn("downloading {task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
        with Progress(*columns, transient=True) as progress:
            task = progress.add_task(url.rsplit("/", 1)[-1], total=total)
            while chunk := response.read(1 << 16):
                buffer.write(chunk)
                progress.advance(task, len(chunk))
    return buffer.getvalue()
