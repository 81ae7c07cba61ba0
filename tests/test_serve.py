"""The HTTP server: answers equal `nmt translate`'s, requests batched together, limits, a bounded queue, one-line
JSON errors after which the server keeps serving, and `nmt serve` itself."""

import json
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from typer.testing import CliRunner

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402
from libretranslatepy import LibreTranslateAPI  # noqa: E402

from nmt.cli import app as cli  # noqa: E402
from nmt.config import DecodeConfig  # noqa: E402
from nmt.errors import NmtError  # noqa: E402
from nmt.serve import Limits, TranslatorEngine, create_app  # noqa: E402
from nmt.translate import Translator  # noqa: E402
from tests.conftest import wait_until  # noqa: E402

runner = CliRunner()
WORDS = [f"w{i}" for i in range(30)]


def _sentence(i: int) -> str:
    return " ".join(WORDS[(i * k + 3) % 30] for k in range(1, 2 + i % 6))


@pytest.fixture(scope="module")
def translator(synth_run):
    return Translator.load(synth_run, device="cpu")


def test_fifty_concurrent_requests_equal_the_cli_and_are_batched(synth_run, translator):
    requests = [[_sentence(i)] if i % 3 else [_sentence(i), "", _sentence(i + 50)] for i in range(50)]
    lines = [line for request in requests for line in request]
    cli_out = runner.invoke(cli, ["translate", "--run", str(synth_run), "--device", "cpu", *lines])
    assert cli_out.exit_code == 0, cli_out.output
    expected = cli_out.stdout.split("\n")[:-1]
    assert len(expected) == len(lines)
    app = create_app(TranslatorEngine(translator), Limits(batch_wait_ms=100))
    with TestClient(app) as client:
        def post(request):
            return client.post("/translate", json={"text": request})

        with ThreadPoolExecutor(50) as pool:
            answers = list(pool.map(post, requests))
        assert all(a.status_code == 200 for a in answers), [a.json() for a in answers if a.status_code != 200]
        got = [item["text"] for a in answers for item in a.json()["translations"]]
        assert got == expected
        calls = app.state.batcher.model_calls
        assert calls < 25, f"{calls} model calls for 50 requests arriving together: not batched"
        one = client.post("/translate", json={"text": lines[0]}).json()  # a plain string: one item
        assert one["translations"][0]["text"] == expected[0]


def test_nbest_and_alignment_match_the_cli(synth_run, translator):
    line = _sentence(4)
    with TestClient(create_app(TranslatorEngine(translator))) as client:
        answer = client.post("/translate", json={"text": [line], "beam_size": 3, "n_best": 2, "alignment": True})
    assert answer.status_code == 200, answer.json()
    item = answer.json()["translations"][0]
    nbest = runner.invoke(cli, ["translate", "--run", str(synth_run), "--device", "cpu", "-b", "3", "--n-best", "2",
                                line]).stdout.splitlines()
    assert [h["text"] for h in item["n_best"]] == [row.split(" ||| ")[1] for row in nbest]
    assert [round(h["score"], 4) for h in item["n_best"]] == [float(row.split(" ||| ")[3]) for row in nbest]
    aligned = runner.invoke(cli, ["translate", "--run", str(synth_run), "--device", "cpu", "-b", "3", "--align",
                                  line]).stdout.strip()
    assert f"{item['text']} ||| {item['alignment']}" == aligned


@pytest.mark.parametrize("body,status,needle", [
    ({"text": []}, 422, "text: an empty list"),
    ({"text": ["w1"] * 5}, 413, "text: 5 lines; at most 4 per request"),
    ({"text": ["w1", "w2 " * 20]}, 413, "line 2 has 60 characters; at most 50"),
    ({"text": "w1", "beam_size": 6}, 422, "beam_size: 6; at most 5"),
    ({"text": "w1", "beam_size": 0}, 422, "beam_size: Input should be greater than or equal to 1"),
    ({"text": "w1", "beam_size": 2, "n_best": 3}, 422, "n_best: 3 exceeds the beam size 2"),
    ({"text": [1, 2]}, 422, "text"),
    ({"txt": "w1"}, 422, "text: Field required"),
    ({"text": "w1", "beem": 2}, 422, "beem: Extra inputs are not permitted"),
    (b"{not json", 422, "not a JSON object"),
    (b"\xff\xfe\x00", 400, "not a JSON object"),
    (b'["w1"]', 422, "not a JSON object"),
    (b"x" * 5000, 413, "request body of 5,000 bytes"),
    ("GET", 405, "GET /translate: Method Not Allowed"),
])
def test_bad_requests_get_one_line_json_errors_and_the_server_goes_on(translator, body, status, needle):
    with TestClient(create_app(TranslatorEngine(translator), Limits(max_lines=4, max_chars=50, max_beam=5))) as client:
        if body == "GET":
            answer = client.get("/translate")
        elif isinstance(body, bytes):
            answer = client.post("/translate", content=body, headers={"content-type": "application/json"})
        else:
            answer = client.post("/translate", json=body)
        assert answer.status_code == status, answer.json()
        error = answer.json()["error"]
        assert needle in error and "\n" not in error
        assert client.post("/translate", json={"text": "w1 w2"}).status_code == 200


class BlockingEngine:
    """Holds every model call until released; fails once when asked to."""

    def __init__(self):
        self.release, self.started = threading.Event(), threading.Event()
        self.fail_next = False

    def settings(self, **changes):
        return DecodeConfig(beam_size=1).override(changes)

    def translate_items(self, lines, decode, alignment):
        self.started.set()
        self.release.wait(30)
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("boom")
        return [{"text": line.upper(), "score": 0.0} for line in lines]

    def info(self):
        return {"src_lang": "en", "tgt_lang": "de"}


def test_a_full_queue_answers_503_and_a_failed_batch_500(translator):
    engine = BlockingEngine()
    app = create_app(engine, Limits(queue_size=2, batch_wait_ms=0, batch_lines=1))
    with TestClient(app) as client, ThreadPoolExecutor(3) as pool:
        first = pool.submit(client.post, "/translate", json={"text": "a"})
        assert engine.started.wait(30)  # the model is busy with the first request
        waiting = [pool.submit(client.post, "/translate", json={"text": t}) for t in ("b", "c")]
        assert wait_until(lambda: client.get("/health").json()["queued"] == 2)
        busy = client.post("/translate", json={"text": "d"})
        assert busy.status_code == 503 and "busy (2 requests waiting)" in busy.json()["error"]
        engine.release.set()
        assert [f.result().json()["translations"][0]["text"] for f in (first, *waiting)] == ["A", "B", "C"]
        engine.fail_next = True
        failed = client.post("/translate", json={"text": "e"})
        assert failed.status_code == 500 and failed.json()["error"] == "translation failed: RuntimeError: boom"
        assert client.post("/translate", json={"text": "f"}).json() == {"translations": [{"text": "F", "score": 0.0,
                                                                                        "warnings": []}]}


def test_health_names_the_model(translator):
    with TestClient(create_app(TranslatorEngine(translator))) as client:
        health = client.get("/health").json()
    assert health["status"] == "ok" and health["checkpoint"] == "best" and health["queued"] == 0
    assert health["model"]["d_model"] == translator.cfg.model.d_model
    assert health["decode"]["beam_size"] == translator.cfg.decode.beam_size
    assert health["limits"]["max_lines"] == Limits().max_lines


def test_nmt_serve_listens_on_localhost_and_answers(synth_run, translator):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "nmt", "serve", "--run", str(synth_run), "--device", "cpu",
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        def health():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                    return json.loads(r.read())
            except OSError:
                return None

        assert wait_until(lambda: health() is not None, 120), "the server did not come up"
        request = urllib.request.Request(f"http://127.0.0.1:{port}/translate", data=b'{"text": ["w1 w2 w3", "w4"]}',
                                         headers={"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as r:
            texts = [item["text"] for item in json.loads(r.read())["translations"]]
        assert texts == translator(["w1 w2 w3", "w4"])
        client = LibreTranslateAPI(f"http://127.0.0.1:{port}")  # a real LibreTranslate client (form bodies)
        assert client.translate("w1 w2 w3", "en", "de") == translator(["w1 w2 w3"])[0]
        assert client.translate("w1 w2\nw4", "auto", "de") == "\n".join(translator(["w1 w2", "w4"]))
        assert [(x["code"], x["targets"]) for x in client.languages()] == [("en", ["de"]), ("de", [])]
        with pytest.raises(urllib.error.HTTPError) as refused:
            client.translate("w1", "fr", "de")
        error = json.loads(refused.value.read())["error"]
        assert refused.value.code == 400 and "source: 'fr' is not supported" in error
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0].decode()
    assert f"http://127.0.0.1:{port}" in out  # not every interface unless --host says so


def test_nmt_serve_errors_are_one_line(tmp_path):
    result = runner.invoke(cli, ["serve", "--run", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "not a run directory" in result.stderr and "Traceback" not in result.stderr
    result = runner.invoke(cli, ["serve", "--run", str(tmp_path), "--max-lines", "0"])
    assert result.exit_code == 2 and "--max-lines 0: must be at least 1" in result.stderr


def test_a_run_whose_beam_exceeds_the_limit_is_refused_at_start(synth_run, translator):
    with pytest.raises(NmtError, match="--max-beam 2 is below the run's decode.beam_size 5"):
        create_app(TranslatorEngine(translator), Limits(max_beam=2))
    result = runner.invoke(cli, ["serve", "--run", str(synth_run), "--device", "cpu", "--max-beam", "2"])
    assert result.exit_code == 2 and "raise --max-beam" in result.stderr


@pytest.mark.parametrize("body,status,expected", [
    ({"q": "w1 w2 w3", "source": "en", "target": "de"}, 200, {"translatedText": "T(w1 w2 w3)", "warnings": []}),
    ({"q": ["w1", "w2\nw3"], "source": "auto", "target": "de", "format": "text"}, 200,
     {"translatedText": ["T(w1)", "T(w2)\nT(w3)"], "warnings": [[], []]}),
    ({"q": "w1", "source": "en", "target": "de", "alternatives": 2}, 200,
     {"translatedText": "T(w1)", "alternatives": ["T(w1)#1", "T(w1)#2"], "warnings": []}),
    ({"q": "w1", "source": "en", "target": "fr"}, 400, "target: 'fr' is not supported; this server translates en"),
    ({"q": "<p>w1 <b>w2</b></p>\n<script>x</script>", "source": "en", "target": "de", "format": "html"}, 200,
     {"translatedText": "<p>T(w1 <b>w2)</b></p>\n<script>x</script>", "warnings": []}),
    ({"q": "w1", "source": "en", "target": "de", "format": "xml"}, 400, "format: 'xml' is not supported"),
    ({"q": "w1", "source": "en"}, 400, "target: Field required"),
    ({"q": "w1", "source": "en", "target": "de", "alternatives": 9}, 422, "beam_size: 10; at most 8"),
])
def test_libretranslate_requests_get_libretranslate_answers(body, status, expected):
    engine = ShapeEngine()
    with TestClient(create_app(engine)) as client:
        answer = client.post("/translate", json=body)
        form = client.post("/translate", data={k: v for k, v in body.items() if not isinstance(v, list)})
    assert answer.status_code == status, answer.json()
    if status == 200:
        assert answer.json() == expected
        if not isinstance(body["q"], list):
            assert form.json() == expected  # the same as a form, as libretranslatepy sends it
    else:
        assert answer.json() == {"error": answer.json()["error"]} and expected in answer.json()["error"]


def test_the_own_api_translates_pages_with_their_markup():
    with TestClient(create_app(ShapeEngine())) as client:
        answer = client.post("/translate", json={"text": ["<h1>w1</h1><p>w2 <a href='#'>w3</a></p>", "<br>"],
                                                 "format": "html"})
        refused = client.post("/translate", json={"text": "<p>w1</p>", "format": "html", "n_best": 2})
    assert answer.status_code == 200, answer.json()
    assert [t["text"] for t in answer.json()["translations"]] == ["<h1>T(w1)</h1><p>T(w2 <a href='#'>w3)</a></p>",
                                                                 "<br>"]
    assert refused.status_code == 422 and "format: html" in refused.json()["error"]


def test_with_keys_every_translation_needs_one():
    with TestClient(create_app(ShapeEngine(), api_keys=frozenset({"k1"}))) as client:
        libre = {"q": "w1", "source": "en", "target": "de"}
        assert client.post("/translate", json=libre).status_code == 403
        assert client.post("/translate", json={**libre, "api_key": "nope"}).status_code == 403
        assert client.post("/translate", json={**libre, "api_key": "k1"}).json() == {"translatedText": "T(w1)",
                                                                                         "warnings": []}
        assert client.post("/translate", json={"text": "w1"}).status_code == 403
        assert client.post("/translate", json={"text": "w1", "api_key": "k1"}).status_code == 200
    with TestClient(create_app(ShapeEngine())) as client:  # no keys: a key is accepted and ignored
        assert client.post("/translate", json={**libre, "api_key": "any"}).status_code == 200


def test_a_chunked_body_is_capped_while_it_is_read(translator):
    sent = []

    def chunks():
        for _ in range(50 * 1024):  # 50 MB in 1 KB chunks, no Content-Length
            sent.append(1)
            yield b"x" * 1024

    with TestClient(create_app(TranslatorEngine(translator), Limits(max_lines=4, max_chars=50))) as client:
        answer = client.post("/translate", content=chunks(), headers={"content-type": "application/json"})
        assert answer.status_code == 413 and "request body of over" in answer.json()["error"]
        assert client.post("/translate", json={"text": "w1"}).status_code == 200


def test_alignment_comes_from_the_one_search(translator, monkeypatch):
    from nmt import translate as translate_module

    calls = []
    real = translate_module.beam_search
    monkeypatch.setattr(translate_module, "beam_search", lambda *a, **k: calls.append(1) or real(*a, **k))
    with TestClient(create_app(TranslatorEngine(translator))) as client:
        answer = client.post("/translate", json={"text": ["w1 w2 w3"], "beam_size": 3, "alignment": True})
    assert answer.status_code == 200 and answer.json()["translations"][0]["alignment"]
    assert len(calls) == 1


def test_a_request_glossary_forces_its_terms(translator):
    with TestClient(create_app(TranslatorEngine(translator))) as client:
        answer = client.post("/translate", json={"text": ["w1 w5", "w6"], "glossary": {"w1": "w17x w18x"}})
        bad = client.post("/translate", json={"text": "w1", "glossary": {"w1": " "}})
    texts = [item["text"] for item in answer.json()["translations"]]
    assert "w17x w18x" in texts[0] and texts[1] == translator(["w6"])[0]
    assert bad.status_code == 422 and "glossary: a source or target term is empty" in bad.json()["error"]


class ShapeEngine:
    """An engine whose translations show what was asked: T(line), alternatives T(line)#j."""

    def settings(self, **changes):
        return DecodeConfig(beam_size=1).override(changes)

    def translate_items(self, lines, decode, alignment):
        items = [{"text": f"T({line})", "score": 0.0} for line in lines]
        if decode.n_best > 1:
            for item, line in zip(items, lines):
                item["n_best"] = [{"text": f"T({line})" + (f"#{j}" if j else "")} for j in range(decode.n_best)]
        return items

    def info(self):
        return {"src_lang": "en", "tgt_lang": "de"}


def test_a_page_through_the_model_keeps_its_tags(translator):
    from tests.test_markup import Tags

    page = "<p>w1 <b>w2 w3</b> w4</p><ul><li><a href='/x' title='w5'>w6</a> w7</li></ul>"
    with TestClient(create_app(TranslatorEngine(translator))) as client:
        answer = client.post("/translate", json={"q": page, "source": "en", "target": "de", "format": "html"})
    assert answer.status_code == 200, answer.json()
    assert Tags(answer.json()["translatedText"]).found == Tags(page).found


def test_translate_file_answers_a_url_to_the_translated_file():
    """LibreTranslate's /translate_file as its clients send it (multipart, through httpx)."""
    with TestClient(create_app(ShapeEngine(), Limits(max_lines=2, max_chars=20))) as client:
        def send(name, content, **fields):
            return client.post("/translate_file", files={"file": (name, content)},
                               data={"source": "en", "target": "de", **fields})

        urls = {}
        for name, content in (("a.txt", b"w1 w2\n\nw3\r\nw4\nw5\n"), ("p.html", b"<p>w1 <b>w2</b></p><pre>w3</pre>"),
                              ("s.srt", b"1\n00:00:01,000 --> 00:00:02,000\nw1\n")):
            answer = send(name, content)
            assert answer.status_code == 200, answer.json()
            urls[name] = answer.json()["translatedFileUrl"]
        got = {name: client.get(url) for name, url in urls.items()}
        assert got["a.txt"].text == "T(w1 w2)\nT()\nT(w3)\r\nT(w4)\nT(w5)\n"  # more lines than a request may have
        assert got["p.html"].text == "<p>T(w1 <b>w2)</b></p><pre>w3</pre>"
        assert got["s.srt"].text.startswith("1\n00:00:01,000 --> 00:00:02,000\nT(w1)\n")
        assert 'filename="p.html"' in got["p.html"].headers["content-disposition"]
        assert send("big.txt", b"w1 " * 20000).status_code == 413
        bad = send("x.txt", b"w1 \xff\n")
        assert bad.status_code == 400 and "x.txt: line 1: not UTF-8" in bad.json()["error"]
        bad = send("x.srt", b"1\n00:00:01 -> 00:00:02\nw1\n")
        assert bad.status_code == 400 and "x.srt:1: not a subtitle cue" in bad.json()["error"]
        assert send("a.txt", b"w1", target="fr").status_code == 400
        assert client.get("/download_file/nothing.txt").status_code == 404
