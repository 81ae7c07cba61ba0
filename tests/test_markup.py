"""HTML with its markup (nmt/markup.py): the model reads text only; tags come back once each, as written, on the
words the alignment gives them; everything not to translate comes out byte for byte."""

import re
from collections import Counter
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

from typer.testing import CliRunner

from nmt.cli import app
from nmt.markup import ATTRIBUTES, PAGE_TEXTS, parse, translate_html, translate_html_stream

PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>My page</title>
<style>p > b { color: red; }</style></head>
<body>
<!-- a comment -->
<h1 class="top">Welcome &amp; hello</h1>
<p>I visited <b>Berlin</b> with my <em>little <i>sister</i></em>.</p>
<p>Please <a href="mailto:anna@example.org" title="Write to us">write to us</a>.<br>Thank you.</p>
<ul><li>One</li><li>Two &lt; three</li></ul>
<table><tr><td>Price</td><td>89 euros</td></tr></table>
<p>Run <code>make install</code> to build it.</p>
<img src="cat.png" alt="A black cat">
<pre>  keep   this
  as it is </pre>
<div translate="no">Do <b>not</b> translate.</div>
<p class="x notranslate">Nor this.</p>
<script>var s = "<p>not text</p>";</script>
</body>
</html>
"""


class Tags(HTMLParser):
    """Every start tag with its attributes, every end tag, every comment: what must survive translation."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.found: Counter = Counter()
        self.feed(page)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.found[("start", tag, tuple((k, v) for k, v in attrs if k not in ATTRIBUTES))] += 1

    def handle_endtag(self, tag):
        self.found[("end", tag)] += 1

    def handle_comment(self, data):
        self.found[("comment", data)] += 1


def aligned_identity(lines, wanted=None):
    return [(line, [(i, i) for i in range(len(line.split()))]) for line in lines]


def reversed_words(lines, wanted=None):
    """A 'translation' that reverses the word order, aligned word to word: markup must follow the words."""
    out = []
    for line in lines:
        words = line.split()
        out.append((" ".join(reversed(words)), [(len(words) - 1 - i, i) for i in range(len(words))]))
    return out


def given(*answers):
    return lambda lines, wanted: list(answers)


def test_translated_as_is_the_page_comes_back_byte_for_byte():
    assert translate_html(PAGE, aligned_identity) == PAGE


def test_the_model_reads_text_only_entities_decoded_and_code_as_a_verbatim_span():
    texts = parse(PAGE).texts
    assert "Welcome & hello" in texts and "Two < three" in texts
    assert "Run `make install` to build it." in texts  # inline code: a verbatim span, the sentence whole
    assert "A black cat" in texts and "Write to us" in texts  # alt and title are read by people
    assert not any("<" in t and ">" in t for t in texts)
    for kept in ("keep", "not", "Nor this", "not text", "color", "a comment", "cat.png", "mailto"):
        assert not any(kept in t for t in texts), kept


def test_every_tag_and_attribute_survives_a_reordering_translation_and_what_is_kept_is_byte_equal():
    out = translate_html(PAGE, reversed_words)
    assert Tags(out).found == Tags(PAGE).found
    for kept in ('<pre>  keep   this\n  as it is </pre>', '<div translate="no">Do <b>not</b> translate.</div>',
                 '<p class="x notranslate">Nor this.</p>', '<script>var s = "<p>not text</p>";</script>',
                 "<style>p > b { color: red; }</style>", "<code>make install</code>", "<!-- a comment -->"):
        assert kept in out
    assert "&lt; Two" in out and "hello &amp; Welcome" in out  # entities encoded again
    assert 'alt="cat black A"' in out and 'title="us to Write"' in out and 'href="mailto:anna@example.org"' in out


def test_inline_tags_land_on_the_words_the_alignment_gives_them():
    page = "<p>Hello <b>big</b> world, <a href='/x'>click here</a>.</p>"
    out = translate_html(page, reversed_words)
    assert out == "<p><a href='/x'>here. click</a> world, <b>big</b> Hello</p>"
    german = [("Hallo große Welt, hier klicken.", [(0, 0), (1, 1), (2, 2), (4, 3), (3, 4)])]
    out = translate_html(page, given(*german))
    assert out == "<p>Hallo <b>große</b> Welt, <a href='/x'>hier klicken</a>.</p>"  # the tag ends before "."


def test_nested_tags_stay_nested_and_a_tag_whose_words_went_nowhere_wraps_the_nearest_word():
    page = "<p>my <em>little <i>sister</i></em> and <u>me</u></p>"
    # every target word aligned to source word 0 ("my"): <em>, <i> and <u> have no word of their own
    out = translate_html(page, given(("meine kleine Schwester und ich", [(0, t) for t in range(5)])))
    assert Tags(out).found == Tags(page).found
    assert out.count("<em>") == out.count("</em>") == 1 and out.index("<em>") < out.index("<i>") < \
        out.index("</i>") < out.index("</em>")
    for word in ("meine", "kleine", "Schwester", "und", "ich"):
        assert out.count(word) == 1  # no word lost or doubled


def test_broken_html_keeps_every_tag_it_had_and_invents_none():
    page = "<p>Broken <b>bold <i>text</p><p>stray </b> end &amp; a < sign <span></span>here</p><p>open <b>never"
    out = translate_html(page, reversed_words)
    assert Tags(out).found == Tags(page).found
    assert translate_html(page, aligned_identity).replace(" ", "") == page.replace(" ", "").replace(
        "<sign", "&lt;sign")


def test_a_page_of_markup_only_or_of_no_words_is_kept_as_it_is():
    for page in ("<div><br><img src=x.png></div>", "<p>42</p><p> - </p>", ""):
        assert translate_html(page, lambda lines, _: [("X", None)] * len(lines)) == page


def test_nmt_translate_picks_html_by_extension(synth_run, tmp_path):
    source, out = tmp_path / "page.html", tmp_path / "page.de.html"
    source.write_text("<html><body><p>w1 <b>w2</b> w3</p><p>w4 <a href='#'>w5 w6</a></p></body></html>\n",
                      encoding="utf-8")
    result = CliRunner().invoke(app, ["translate", "--run", str(synth_run), "-i", str(source), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert Tags(out.read_text(encoding="utf-8")).found == Tags(source.read_text(encoding="utf-8")).found
    result = CliRunner().invoke(app, ["translate", "--run", str(synth_run), "--format", "html", "w1 w2"])
    assert result.exit_code == 2 and "--format html" in result.output


PAGES = sorted((Path(__file__).parent / "pages").glob("*.htm*"))
KEPT = re.compile(r"<(script|style|pre|code|kbd|textarea)\b.*?</\1>|<!--.*?-->"
                  r"|<(\w+)\b[^>]*(?:translate=\"no\"|class=\"[^\"]*\bnotranslate\b[^\"]*\")[^>]*>.*?</\2>", re.DOTALL)


def test_the_page_set_keeps_every_tag_attribute_and_untranslatable_part():
    """tests/pages: ten pages written for the tests (inline tags in sentences, links, lists, tables, nesting,
    forms, broken markup), each through a translation that reverses the words: 100% of tags and attributes
    kept, every untranslatable part byte-equal, the output parses."""
    assert len(PAGES) >= 10
    for path in PAGES:
        page = path.read_text(encoding="utf-8")
        out = translate_html(page, reversed_words)
        assert Tags(out).found == Tags(page).found, path.name
        for kept in KEPT.finditer(page):
            assert kept.group() in out, (path.name, kept.group())
        same = translate_html(page, aligned_identity)  # as is: the page back, up to spaces and entities
        assert unescape(same).split() == unescape(page).split(), path.name


def test_a_page_read_in_pieces_and_translated_in_stretches_is_the_page_translated_whole(monkeypatch):
    """A large page streams: read a piece at a time, translated PAGE_TEXTS texts at a time. Cut anywhere (inside
    a tag, an entity, a comment, a script), the output is the one of the page read whole."""
    import nmt.markup as markup

    pages = [PAGE] + [path.read_text(encoding="utf-8") for path in PAGES]
    whole = [translate_html(page, reversed_words) for page in pages]
    monkeypatch.setattr(markup, "PAGE_TEXTS", 3)
    for page, expected in zip(pages, whole):
        for size in (1, 7, 64):
            pieces = [page[i : i + size] for i in range(0, len(page), size)]
            assert "".join(markup.translate_html_stream(pieces, reversed_words)) == expected, size


def test_a_long_page_is_given_out_stretch_by_stretch_as_it_is_read():
    block = "<p>One <b>more</b> sentence here.</p>\n"
    read = []

    def pieces():
        for n in range(10_000):
            read.append(n)
            yield block

    out = translate_html_stream(pieces(), reversed_words)
    first = next(out)
    assert first.startswith("<p>here. sentence <b>more</b> One</p>") and len(read) < 2 * PAGE_TEXTS
    assert len(first) + sum(map(len, out)) == len(block) * 10_000


def test_a_page_that_is_not_utf8_names_its_line_and_writes_nothing(tmp_path, monkeypatch):
    import nmt.documents as documents
    from nmt.errors import NmtError

    monkeypatch.setattr(documents, "READ_BYTES", 5)  # the bad byte is read pieces after the start
    source, out = tmp_path / "page.html", tmp_path / "out.html"
    source.write_bytes("<p>one</p>\n<p>two</p>\n<p>thr\xe9e</p>\n".encode("latin-1"))
    try:
        documents.translate_document(lambda lines: lines, source, out, "html")
    except NmtError as err:
        assert str(err) == f"{source}: line 3: not UTF-8 text; convert it (e.g. with iconv)"
    else:
        raise AssertionError("no error")
    assert not out.exists() and list(tmp_path.iterdir()) == [source]
    source.write_bytes("<p>one</p>\n<p>zwei \u00fcber</p>\n".encode())
    documents.translate_document(lambda lines: [line.upper() for line in lines], source, out, "html")
    assert out.read_text(encoding="utf-8") == "<p>ONE</p>\n<p>ZWEI \u00dcBER</p>\n"  # ü cut between two pieces
