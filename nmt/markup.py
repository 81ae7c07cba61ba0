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
from collections.abc import Callable, Iterable, Iterator, Sequence
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


Event = tuple[str, str, list[tuple[str, str | None]], str]  # kind, tag, attributes, raw text as written


class _Scanner(HTMLParser):
    """html.parser's events, each with the offset in the page where it starts, for a page given in pieces: only
    the text from the oldest event not yet given out is held."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.held, self.base = "", 0  # the page from offset ``base`` on
        self.line_starts, self.first_line = [0], 1  # offsets of lines first_line, first_line + 1, ...
        self.found: list[tuple[str, str, list, int]] = []  # (kind, tag, attributes, start offset)

    def push(self, piece: str, last: bool = False) -> list[Event]:
        """Feed the next ``piece`` of the page; the events whose raw text is now complete (``last``: all)."""
        end = self.base + len(self.held)
        self.line_starts += [end + m.end() for m in re.finditer("\n", piece)]
        self.held += piece
        self.feed(piece)
        if last:
            self.close()
        if self.found and self.found[0][3] > self.base:  # text html.parser gave no event (none seen so far)
            self.found.insert(0, ("text", "", [], self.base))
        done = self.found if last else self.found[:-1]
        ends = [start for *_, start in self.found[1:]] + [self.base + len(self.held)]
        out = [(kind, tag, attrs, self.held[start - self.base : end - self.base])
               for (kind, tag, attrs, start), end in zip(done, ends)]
        if not self.found and last and self.held:
            out = [("text", "", [], self.held)]
        keep = len(self.held) if last else (self.found[-1][3] - self.base if self.found else 0)
        self.held, self.base, self.found = self.held[keep:], self.base + keep, self.found[len(done):]
        return out

    def _add(self, kind: str, tag: str = "", attrs: list | None = None) -> None:
        line, column = self.getpos()
        if line - self.first_line > 4096:  # lines before the current one are not needed again
            del self.line_starts[: line - self.first_line]
            self.first_line = line
        if kind == "text" and self.found and self.found[-1][0] == "text":
            return  # one run of text, however html.parser cut it (entities, the pieces fed)
        self.found.append((kind, tag, attrs or [], self.line_starts[line - self.first_line] + column))

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


def events(pieces: Iterable[str]) -> Iterator[Event]:
    """(kind, tag, attributes, raw text) of each construct of the page given as ``pieces``; the raw texts joined
    are the page. A run of text is one event."""
    scanner = _Scanner()
    for piece in pieces:
        yield from scanner.push(piece)
    yield from scanner.push("", last=True)


def _not_translated(attrs: list[tuple[str, str | None]]) -> bool:
    values = dict(attrs)
    return values.get("translate") == "no" or "notranslate" in (values.get("class") or "").split()


@dataclass
class Page:
    """A parsed page, or a stretch of one: its parts in order (markup as written, start tags with translatable
    attributes, blocks) and the texts the model reads (each block's ``texts[block.index - first]``, and the
    attribute values); ``first``: the page-wide index of ``texts[0]``."""

    parts: list[str | Tag | Block]
    texts: list[str]
    first: int = 0

    def aligned(self) -> list[bool]:
        """Per text, whether its translation needs the word alignment (a block with inline markup)."""
        wanted = [False] * len(self.texts)
        for part in self.parts:
            if isinstance(part, Block) and part.index >= 0 and part.items:
                wanted[part.index - self.first] = True
        return wanted

    def render(self, found: Sequence[Aligned]) -> str:
        """The page with each text replaced by its translation (``found[i]`` for ``texts[i]``)."""
        texts = _Shifted([text for text, _ in found], self.first)
        out = []
        for part in self.parts:
            if not isinstance(part, Block):
                out.append(_as_written(part, texts))
            elif part.index < 0:
                out += [_as_written(p, texts) for p in part.raw]
            else:
                out.append(render_block(part, *found[part.index - self.first], texts))
        return "".join(out)


@dataclass
class _Shifted(Sequence[str]):
    """Texts by their page-wide index."""

    texts: list[str]
    first: int

    def __getitem__(self, index):  # type: ignore[override]
        return self.texts[index - self.first]

    def __len__(self) -> int:
        return self.first + len(self.texts)


PAGE_TEXTS = 256  # texts a stretch of a page gathers before it is translated (memory stays bounded)


def parse(page: str) -> Page:
    """``page`` as blocks of text with their inline markup, and the markup between them as written."""
    stretches = list(parse_stream([page], texts_per_stretch=None))
    return Page([part for p in stretches for part in p.parts], [text for p in stretches for text in p.texts])


def parse_stream(pieces: Iterable[str], texts_per_stretch: int | None) -> Iterator[Page]:
    """The page given as ``pieces``, parsed as it is read: a :class:`Page` of consecutive parts whenever
    ``texts_per_stretch`` texts are settled (None: one at the end). Only the stretch being gathered is held, and
    the block being read."""
    parts: list[str | Tag | Block] = []
    texts: list[str] = []
    first = 0  # page-wide index of texts[0]
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
                values.append((m.start(3), m.end(3), quote, first + len(texts) - 1))
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
                block.index = first + len(texts) - 1
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

    def stretch() -> Page:
        """The parts done so far and their texts (the block being read keeps those of its attributes)."""
        nonlocal parts, texts, first
        pending = sum(len(p.values) for p in block.raw if isinstance(p, Tag))
        settled = len(texts) - pending
        out = Page(parts, texts[:settled], first)
        parts, texts, first = [], texts[settled:], first + settled
        return out

    for kind, tag, attrs, raw in events(pieces):
        if texts_per_stretch is not None and len(texts) >= texts_per_stretch and parts:
            yield stretch()
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
    yield stretch()


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
    return "".join(translate_html_stream([page], translate))


def translate_html_stream(pieces: Iterable[str], translate: Translate) -> Iterator[str]:
    """:func:`translate_html` of the page given as ``pieces``, read, translated and given out a stretch of
    PAGE_TEXTS texts at a time: a page of any size in bounded memory (but for one block larger than that)."""
    for stretch in parse_stream(pieces, PAGE_TEXTS):
        yield stretch.render(translate(stretch.texts, stretch.aligned()) if stretch.texts else [])
