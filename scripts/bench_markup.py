"""What HTML costs and keeps, with a trained run, side by side in one run:

- the page set (tests/pages/*.html, written for the tests) through the model: tags and attributes kept, the
  untranslatable parts byte-equal, the output parsed;
- pages built from a validation set (``--src``/``--ref``: each sentence a <p> or <li>, seeded inline tags around
  one or two of its words, some nested): BLEU of the text of the translated pages against the same sentences
  translated as plain text, page by page (the markup must not hurt the words), and the time of each (medians of
  --repeats);
- a sample of inline tags for hand-checking: the source sentence and its translation with the tag's words in
  [brackets] (``--sample FILE``).

    python scripts/bench_markup.py --run runs/tatoeba-en-de --src ../shared/data/multi30k/val.en \
        --ref ../shared/data/multi30k/val.de --out docs/bench_markup.json --sample logs/markup_sample.txt
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import time
from functools import partial
from html.parser import HTMLParser
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))
from benchlib import report  # noqa: E402

from nmt.attention_maps import aligned_translations  # noqa: E402
from nmt.evaluate import score  # noqa: E402
from nmt.markup import parse, translate_html  # noqa: E402
from nmt.translate import Translator  # noqa: E402
from tests.test_markup import KEPT, PAGES, Tags  # noqa: E402

INLINE = ["b", "i", "em", "strong", 'a href="#x"', 'span class="hl"']


def marked(sentence: str, rng: random.Random) -> str:
    """``sentence`` with an inline tag around one or two of its words (half the time), nested a fifth of those."""
    words = sentence.split()
    if len(words) < 3 or rng.random() < 0.5:
        return sentence
    at = rng.randrange(len(words) - 1)
    size = rng.choice((1, 2))
    tag = rng.choice(INLINE)
    inner = " ".join(words[at : at + size])
    if rng.random() < 0.2 and size == 2:
        first, second = inner.split(" ", 1)
        inner = f"{first} <u>{second}</u>"
    name = tag.split()[0]
    return " ".join(words[:at] + [f"<{tag}>{inner}</{name}>"] + words[at + size :])


def built_pages(sentences: list[str], per_page: int, rng: random.Random) -> list[str]:
    pages = []
    for start in range(0, len(sentences), per_page):
        body = []
        for i, sentence in enumerate(sentences[start : start + per_page]):
            body.append(f"<li>{marked(sentence, rng)}</li>" if i % 4 == 3 else f"<p>{marked(sentence, rng)}</p>")
        pages.append("<html><body>\n" + "\n".join(body) + "\n</body></html>\n")
    return pages


class Parses(HTMLParser):
    def error(self, message: str) -> None:  # noqa: D102
        raise ValueError(message)


def bracketed(block_html: str, tag: str) -> str:
    """The text of ``block_html`` with the first ``tag`` element's text in [brackets], other tags dropped."""
    opened = re.sub(rf"<{tag}\b[^>]*>", "[", block_html, count=1)
    closed = re.sub(rf"</{tag}>", "]", opened, count=1)
    return re.sub(r"<[^>]+>", "", closed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True)
    parser.add_argument("--src", type=Path, required=True)
    parser.add_argument("--ref", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--per-page", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sample", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    translator = Translator.load(args.run, device="cpu")

    align = partial(aligned_translations, translator)

    kept = {"pages": len(PAGES), "tags_kept": 0, "untranslatable_byte_equal": 0, "untranslatable": 0, "parsed": 0}
    for path in PAGES:
        page = path.read_text(encoding="utf-8")
        out = translate_html(page, align)
        kept["tags_kept"] += Tags(out).found == Tags(page).found
        parts = [m.group() for m in KEPT.finditer(page)]
        kept["untranslatable"] += len(parts)
        kept["untranslatable_byte_equal"] += sum(part in out for part in parts)
        try:
            Parses().feed(out)
            kept["parsed"] += 1
        except ValueError:
            pass

    sentences = args.src.read_text(encoding="utf-8").splitlines()[: args.limit]
    refs = args.ref.read_text(encoding="utf-8").splitlines()[: args.limit]
    pages = built_pages(sentences, args.per_page, random.Random(0))
    plain_in = [parse(page).texts for page in pages]  # each page's sentences as the model reads them
    times: dict[str, list[float]] = {"html": [], "plain": []}
    for _ in range(args.repeats):  # interleaved: a change in the machine's load falls on both alike
        start = time.perf_counter()
        outputs = [translate_html(page, align) for page in pages]
        times["html"].append(time.perf_counter() - start)
        start = time.perf_counter()
        plain = [text for texts in plain_in for text in translator(texts)]  # page by page, as the pages
        times["plain"].append(time.perf_counter() - start)
    html_text = [text for out in outputs for text in parse(out).texts]
    bleu_html = score(html_text, refs, metrics=("bleu",))["bleu"]["score"]
    bleu_plain = score(plain, refs, metrics=("bleu",))["bleu"]["score"]
    tags_built = sum(Tags(page).found == Tags(out).found for page, out in zip(pages, outputs))

    if args.sample:
        lines = []
        for page, out in zip(pages, outputs):
            sources = re.findall(r"<(?:p|li)>(.*?)</(?:p|li)>", page)
            targets = re.findall(r"<(?:p|li)>(.*?)</(?:p|li)>", out)
            for source, target in zip(sources, targets):
                found = re.search(r"<(b|i|em|strong|a|span)\b", source)
                if found:
                    lines += [f"EN {bracketed(source, found.group(1))}", f"DE {bracketed(target, found.group(1))}", ""]
        args.sample.write_text("\n".join(lines), encoding="utf-8")

    html_s, plain_s = statistics.median(times["html"]), statistics.median(times["plain"])
    report({
        "run": args.run, "threads": args.threads, "repeats": args.repeats, "page_set": kept,
        "built_pages": len(pages), "sentences": len(plain), "built_pages_tags_kept": tags_built,
        "bleu_html_text": round(bleu_html, 2), "bleu_plain": round(bleu_plain, 2),
        "seconds_median": {"html": round(html_s, 3), "plain": round(plain_s, 3)},
        "ratio_html_to_plain": round(html_s / plain_s, 3), "source": str(args.src),
    }, args.out)


if __name__ == "__main__":
    main()
