"""HTML pages translated with their markup (the approach of Mozilla's Bergamot translator).

A page becomes *blocks*: the text between two block boundaries (p, li, td, h1-h6, div, br, ... and every tag that
is not inline), with the inline elements inside it (a, b, em, span, ...) kept aside as character ranges of the
block's text. The model reads the block's text only: entities decoded, whitespace runs as one space, no markup.
Its translation gets the inline elements back through the cross-attention word alignment: each target word takes
the elements of the source word it attends to most, and an element spans the target words that took it (made
contiguous and nested as in the source, so the output is well formed). Every tag comes out exactly once: an element
none of whose words were placed wraps the word aligned nearest to it; one with no words (``<img>``, a comment, a
stray ``</b>``) goes before the word aligned to the source word after it.

Byte for byte: everything outside the translated text (tags with their attributes, comments, the doctype,
``<script>``, ``<style>``, ``<pre>``, ``<textarea>``, ``<svg>``, elements marked ``translate="no"`` or
``class="notranslate"``, and ``<code>``), and every block without a word to translate. Inline ``<code>`` (and any
inline element marked not to translate) reaches the model as its text in backticks, a verbatim span
(nmt/verbatim.py), so the sentence reads whole; the element itself is put back where the span comes out.
Attributes a reader sees or hears are translated: ``alt``, ``title``, ``placeholder``, ``aria-label``.

Parsed with the standard library's :mod:`html.parser`: it never refuses broken markup (unclosed tags, stray end
tags, ``<`` in text) and tells where each construct starts, so the raw text of every tag is kept as written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape, unescape
from html.parser import HTMLParser

INLINE = frozenset("a abbr b bdi bdo big cite code data del dfn em font i img ins kbd label mark q s samp small "
                   "span strike strong sub sup time tt u var wbr".split())
VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())
VERBATIM = frozenset("script style pre textarea svg math template".split())  # their content is never text
OPAQUE_INLINE = frozenset({"code", "kbd", "samp", "var"})  # inline, but their text is not to be translated
ATTRIBUTES = ("alt", "title", "placeholder", "aria-label")  # read or heard by people: translated
ATTR = re.compile(r"""(?<=[\s"'])([^\s/>="']+)(\s*=\s*)("[^"]*"|'[^']*'|[^\s"'=<>`]+)""")
SPACE = re.compile(r"[ \t\n\r\f]+")  # HTML's whitespace (U+00A0 is text)
LETTER = re.compile(r"[^\W\d_]")

Pairs = list[tuple[int, int]]  # (source word, target word), 0-based over whitespace-separated words
Aligned = tuple[str, Pairs | None]  # a translation and, for a block with inline elements, its word alignment
Translate = Callable[[list[str], list[bool]], Sequence[Aligned]]  # texts, and which need their alignments


@dataclass
class Tag:
    """A start tag as written, with the values of its translatable attributes (``values``: start, end, quote
    and the index of its text among the page's texts) to be replaced by their translations."""

    raw: str
    values: list[tuple[int, int, str, int]] = field(default_factory=list)

    def render(self, texts: Sequence[str]) -> str:
        out, at = [], 0
        for start, end, quote, index in self.values:
            value = escape(texts[index], quote=True) if quote != "'" else escape(texts[index], quote=False).replace(
                "'", "&#x27;")
            out += [self.raw[at:start], quote or '"', value, quote or '"']
            at = end
        return "".join(out) + self.raw[at:]


def _as_written(part: str | Tag, texts: Sequence[str]) -> str:
    return part.render(texts) if isinstance(part, Tag) else part


@dataclass
class Item:
    """Inline markup in a block over characters [start, end) of the block's text (start == end: nothing of the
    text, placed between words). An element is ``open`` ... its text ... ``close`` ("" where the source has no
    end tag); an ``opaque`` item is markup kept as written in one piece (inline ``<code>``, a comment, a stray
    end tag): the model reads ``text[start:end]`` for it (its text in backticks) or nothing."""

    name: str
    open: Tag | str
    start: int
    end: int = -1  # -1 while the element is open
    close: str = ""
    parent: int | None = None  # the enclosing element's index among the block's items
    opaque: bool = False
    spaced: bool = False  # no text of its own, with spaces on both sides ("the <img> button"): kept so


@dataclass
class Block:
    """The text between two block boundaries: ``raw`` as written (kept when it has no word to translate),
    ``text`` as the model reads it, ``items`` its inline markup, ``lead``/``trail`` its outer whitespace."""

    raw: list[str | Tag] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)  # the text so far: entities decoded, whitespace collapsed
    items: list[Item] = field(default_factory=list)
    open: list[int] = field(default_factory=list)  # the inline elements open here, outermost first
    lead: str = ""
    trail: str = ""
    text: str = ""
    index: int = -1  # its text's index among the page's texts; -1: nothing to translate

    @property
    def at(self) -> int:
        return sum(map(len, self.parts))

    @property
    def parent(self) -> int | None:
        return self.open[-1] if self.open else None

    def add_text(self, decoded: str) -> None:
        if not self.parts and not self.items:
            self.lead += decoded[: len(decoded) - len(decoded.lstrip(" \t\n\r\f"))]
        text = SPACE.sub(" ", decoded)
        if text.startswith(" ") and self.at and self.parts[-1].endswith(" "):
            for item in self.items:
                item.spaced = item.spaced or item.start == item.end == self.at
        if text.startswith(" ") and (not self.at or self.parts[-1].endswith(" ")):
            text = text[1:]
        if text:
            self.parts.append(text)
        self.trail = decoded[len(decoded.rstrip(" \t\n\r\f")):]

    def add_raw(self, raw: str | Tag) -> None:
        """Markup of the block, as written."""
        self.raw.append(raw)
        self.trail = ""

    def add_item(self, item: Item) -> int:
        self.items.append(item)
        return len(self.items) - 1

    def close_open(self) -> None:
        """The elements still open end here (the source closes them later, or never)."""
        for k in self.open:
            self.items[k].end = self.at
        self.open.clear()


class _Scanner(HTMLParser):
    """html.parser's events, each with the offset in the page where it starts."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=False)
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", page)]
        self.events: list[tuple[str, str, list[tuple[str, str | None]], int]] = []

    def _add(self, kind: str, tag: str = "", attrs: list | None = None) -> None:
        line, column = self.getpos()
        self.events.append((kind, tag, attrs or [], self.line_starts[line - 1] + column))

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self._add("start", tag, attrs)

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        self._add("void", tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        self._add("end", tag)

    def handle_data(self, data: str) -> None:
        self._add("text")

    handle_entityref = handle_charref = handle_data

    def handle_comment(self, data: str) -> None:
        self._add("comment")

    def handle_decl(self, decl: str) -> None:
        self._add("boundary")

    handle_pi = unknown_decl = handle_decl


def events(page: str) -> list[tuple[str, str, list, str]]:
    """(kind, tag, attributes, raw text) of each construct of ``page``; the raw texts joined are ``page``."""
    scanner = _Scanner(page)
    scanner.feed(page)
    scanner.close()
    found = scanner.events
    if not found or found[0][3] > 0:
        found.insert(0, ("text", "", [], 0))
    ends = [start for *_, start in found[1:]] + [len(page)]
    return [(kind, tag, attrs, page[start:end]) for (kind, tag, attrs, start), end in zip(found, ends)]


def _not_translated(attrs: list[tuple[str, str | None]]) -> bool:
    values = dict(attrs)
    return values.get("translate") == "no" or "notranslate" in (values.get("class") or "").split()


@dataclass
class Page:
    """A parsed page: its parts in order (markup as written, start tags with translatable attributes, blocks)
    and the texts the model reads (each block's ``texts[block.index]``, and the attribute values)."""

    parts: list[str | Tag | Block]
    texts: list[str]

    def aligned(self) -> list[bool]:
        """Per text, whether its translation needs the word alignment (a block with inline markup)."""
        wanted = [False] * len(self.texts)
        for part in self.parts:
            if isinstance(part, Block) and part.index >= 0 and part.items:
                wanted[part.index] = True
        return wanted

    def render(self, found: Sequence[Aligned]) -> str:
        """The page with each text replaced by its translation (``found[i]`` for ``texts[i]``)."""
        texts = [text for text, _ in found]
        out = []
        for part in self.parts:
            if not isinstance(part, Block):
                out.append(_as_written(part, texts))
            elif part.index < 0:
                out += [_as_written(p, texts) for p in part.raw]
            else:
                out.append(render_block(part, *found[part.index], texts))
        return "".join(out)


def parse(page: str) -> Page:
    """``page`` as blocks of text with their inline markup, and the markup between them as written."""
    parts: list[str | Tag | Block] = []
    texts: list[str] = []
    block = Block()
    skip: list[str] = []  # the elements open inside a verbatim one (<script>, <pre>, translate="no" blocks)
    opaque: Item | None = None  # inline markup kept as written, being collected
    depth, inside = 0, []  # the opaque element's open depth; the text inside it

    def tag_of(raw: str) -> Tag | str:
        values = []
        for m in ATTR.finditer(raw):
            value = m.group(3)
            quote = value[0] if value[0] in "\"'" else ""
            text = unescape(value[1:-1] if quote else value)
            if m.group(1).lower() in ATTRIBUTES and LETTER.search(text):
                texts.append(text)
                values.append((m.start(3), m.end(3), quote, len(texts) - 1))
        return Tag(raw, values) if values else raw

    def end_block() -> None:
        nonlocal block
        block.close_open()
        if block.raw:
            block.text = "".join(block.parts).rstrip(" ")
            for item in block.items:
                item.start, item.end = min(item.start, len(block.text)), min(item.end, len(block.text))
            if LETTER.search(block.text):
                texts.append(block.text)
                block.index = len(texts) - 1
            parts.append(block)
        block = Block()

    def end_opaque() -> None:
        nonlocal opaque
        assert opaque is not None
        content = SPACE.sub(" ", unescape("".join(inside))).strip()
        if content and "`" not in content:  # read as a verbatim span: the sentence stays whole
            block.parts.append(f"`{content}`")
        opaque.end = block.at
        block.add_item(opaque)
        opaque = None

    for kind, tag, attrs, raw in events(page):
        starts = kind in ("start", "void")
        if skip:  # inside <script>, <pre>, ...: as written until it ends
            parts.append(raw)
            if kind == "start" and tag not in VOID:
                skip.append(tag)
            elif kind == "end" and tag in skip:
                del skip[len(skip) - 1 - skip[::-1].index(tag):]
            continue
        if opaque is not None:
            if (starts or kind == "end") and tag not in INLINE:  # a block boundary ends it, closed or not
                end_opaque()
            else:
                block.add_raw(raw)
                assert isinstance(opaque.open, str)
                opaque.open += raw
                if kind == "text":
                    inside.append(raw)
                depth += (kind == "start" and tag not in VOID) - (kind == "end")
                if depth <= 0:
                    end_opaque()
                continue
        if kind == "text":
            block.raw.append(raw)
            block.add_text(unescape(raw))
        elif starts and (tag in VERBATIM or (tag not in INLINE and _not_translated(attrs))):
            end_block()
            parts.append(raw)
            if kind == "start" and tag not in VOID:
                skip.append(tag)
        elif kind == "start" and tag in INLINE and tag not in VOID and (tag in OPAQUE_INLINE or
                                                                        _not_translated(attrs)):
            block.add_raw(raw)
            opaque, depth, inside = Item(tag, raw, block.at, parent=block.parent, opaque=True), 1, []
        elif starts and tag in INLINE:
            opened = tag_of(raw)
            block.add_raw(opened)
            k = block.add_item(Item(tag, opened, block.at, parent=block.parent))
            if kind == "start" and tag not in VOID:
                block.open.append(k)
            else:
                block.items[k].end = block.at
        elif kind == "end" and tag in INLINE or kind == "comment":
            block.add_raw(raw)
            match = next((k for k in reversed(block.open) if block.items[k].name == tag), None)
            if kind == "end" and match is not None:
                while block.open:  # elements left open inside it end with it
                    k = block.open.pop()
                    block.items[k].end = block.at
                    if k == match:
                        break
                block.items[match].close = raw
            else:  # a comment, or an end tag with no start in this block: kept where it is
                block.add_item(Item(tag, raw, block.at, block.at, parent=block.parent, opaque=True))
        else:  # a block boundary: a tag that is not inline, the doctype
            end_block()
            parts.append(tag_of(raw) if starts else raw)
    if opaque is not None:
        end_opaque()
    end_block()
    return Page(parts, texts)


def _escape(text: str) -> str:
    return escape(text, quote=False).replace("\xa0", "&nbsp;")


WORD = re.compile(r"\S+")
EDGES = re.compile(r"^(\W*)(.*?)(\W*)$", re.DOTALL)  # a word's leading punctuation, its core, its trailing one


def _pieces(text: str) -> list[tuple[int, int, int, int]]:
    """(start, end, word, kind) of each piece of each whitespace-separated word: its leading punctuation (kind
    0), its core (1), its trailing punctuation (2); a tag may end between "here" and "."."""
    out = []
    for w, m in enumerate(WORD.finditer(text)):
        edges = EDGES.match(m.group())
        lead, core, trail = edges.span(1), edges.span(2), edges.span(3)
        if core[0] == core[1]:  # punctuation only: one piece
            lead, core, trail = (0, 0), (0, len(m.group())), (len(m.group()),) * 2
        out += [(m.start() + a, m.start() + b, w, kind) for kind, (a, b) in enumerate((lead, core, trail)) if b > a]
    return out


def render_block(block: Block, translation: str, pairs: Pairs | None, texts: Sequence[str]) -> str:
    """The block's translation with its inline markup placed on the target words ``pairs`` align (None: by
    position), each tag once and as written, nested as in the source."""
    if not block.items:
        return block.lead + _escape(translation) + block.trail
    src = _pieces(block.text)
    n_src_words = len(WORD.findall(block.text))
    n_tgt_words = len(WORD.findall(translation))
    aligned = dict((t, s) for s, t in pairs or [])
    by_word: dict[tuple[int, int], int] = {(w, kind): i for i, (_, _, w, kind) in enumerate(src)}

    # an opaque item's backticked text, found in the translation, is where it goes
    found: dict[int, tuple[int, int]] = {}
    cursor = 0
    for k, item in enumerate(block.items):
        if item.opaque and item.end > item.start:
            at = translation.find(block.text[item.start : item.end], cursor)
            if at >= 0:
                found[k] = (at, at + item.end - item.start)
                cursor = at + item.end - item.start
    edges = sorted({e for span in found.values() for e in span})
    tokens: list[tuple[int, int, int]] = []  # (start, end, source piece): target pieces, cut at those edges
    for a, b, w, kind in _pieces(translation):
        s_word = aligned.get(w, w * n_src_words // max(n_tgt_words, 1))
        source = by_word.get((s_word, kind), -1)
        if source < 0 and kind != 1:  # punctuation its word lacks: the same marks nearest in the source
            same = [i for i, (x, y, _, k) in enumerate(src) if k != 1 and block.text[x:y] == translation[a:b]]
            source = min(same, key=lambda i: abs(src[i][2] - s_word), default=-1)
        if source < 0:
            source = by_word.get((s_word, 1), -1)
        cuts = [a] + [e for e in edges if a < e < b] + [b]
        tokens += [(x, y, source) for x, y in zip(cuts, cuts[1:])]
    n = len(tokens)
    taken = {t: k for k, (a, b) in found.items() for t, (x, y, _) in enumerate(tokens) if a <= x and y <= b}

    def first_target(piece: int) -> int:
        """The first free token aligned to source piece ``piece`` or a later one (n: none)."""
        for s in range(piece, len(src)):
            hits = [t for t, (_, _, source) in enumerate(tokens) if t not in taken and source == s]
            if hits:
                return hits[0]
        return n

    span: dict[int, tuple[int, int]] = {}  # item -> its tokens [start, end), before nesting
    for k, item in enumerate(block.items):
        if k in found:
            hits = [t for t, owner in taken.items() if owner == k]
        elif item.opaque:  # kept as written in one piece, between words
            hits = []
        else:
            mine = {i for i, (at, *_) in enumerate(src) if item.start <= at < item.end}
            hits = [t for t, (_, _, source) in enumerate(tokens) if t not in taken and source in mine]
        if hits:
            span[k] = (min(hits), max(hits) + 1)
        else:
            p = first_target(next((i for i, (at, *_) in enumerate(src) if at >= item.start), len(src)))
            wraps = item.end > item.start and not item.opaque and p < n  # its words went nowhere: the nearest
            span[k] = (p, p + 1) if wraps else (p, p)

    children: dict[int | None, list[int]] = {}
    for k, item in enumerate(block.items):
        children.setdefault(item.parent, []).append(k)
    final: dict[int, tuple[int, int]] = {}

    def nest(parent: int | None, lo: int, hi: int) -> None:
        """Children of ``parent`` inside [lo, hi), in target order, none overlapping another."""
        at = lo
        for k in sorted(children.get(parent, []),
                        key=lambda k: (min(max(span[k][0], lo), hi), span[k][1] > span[k][0], k)):
            start = min(max(span[k][0], at), hi)
            final[k] = (start, max(min(span[k][1], hi), start))
            at = max(at, final[k][1])
            nest(k, *final[k])

    nest(None, 0, n)
    out: list[str] = []
    gapped: set[int] = set()

    def gap(t: int) -> None:  # the text between token t and the one before, once (none inside an opaque text)
        if t < n and t not in gapped:
            gapped.add(t)
            if not (t in taken and taken.get(t - 1) == taken[t]):
                out.append(_escape(translation[tokens[t - 1][1] if t else 0 : tokens[t][0]]))

    def run(a: int, b: int) -> None:
        for t in range(a, b):
            gap(t)
            if t not in taken:
                out.append(_escape(translation[tokens[t][0] : tokens[t][1]]))

    def emit(parent: int | None, lo: int, hi: int) -> None:
        at = lo
        for k in sorted(children.get(parent, []), key=lambda k: (final[k][0], final[k][1] > final[k][0], k)):
            start, end = final[k]
            run(at, start)
            gap(start)
            item = block.items[k]
            out.append(_as_written(item.open, texts))
            if item.opaque:
                gapped.update(range(start, end))
            else:
                emit(k, start, end)
                out.append(item.close)
            if item.spaced and start == end and start < n and start not in taken:
                out.append(" ")
            at = max(at, end)
        run(at, hi)

    emit(None, 0, n)
    out.append(_escape(translation[tokens[-1][1] :] if tokens else translation))
    return block.lead + "".join(out) + block.trail


def translate_html(page: str, translate: Translate) -> str:
    """``page`` translated with its markup: ``translate(texts, wanted)`` gives each text's translation and, where
    ``wanted`` (a block with inline markup), its word alignment (None: the markup is placed by word position)."""
    parsed = parse(page)
    return parsed.render(translate(parsed.texts, parsed.aligned()) if parsed.texts else [])
