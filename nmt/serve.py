"""An HTTP translation server (FastAPI + uvicorn: ``pip install -e ".[serve]"``).

POST /translate takes ``{"text": "..."}`` or ``{"text": ["...", ...]}`` (optional ``beam_size``, ``n_best``,
``alignment``, ``glossary``: ``{"source term": "target term", ...}``, ``format``: ``text`` or ``html``) and answers
``{"translations": [...]}``, one item per input line (with ``html``: per page, translated with its markup), in
order. ``GET /`` is a translation page (nmt/page.html: one file, nothing fetched from elsewhere) under a strict
Content-Security-Policy. GET /health gives the model's languages, config and the server's limits. Requests
that arrive together are translated together (dynamic batching): one worker thread runs the model, fed by a bounded
queue; a full queue answers 503. What one request may ask is limited (lines, characters per line, beam size:
413/422). Every error is a one-line JSON ``{"error": "..."}`` and the server keeps serving.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import parse_qs

from nmt.config import ConfigError
from nmt.errors import NmtError
from nmt.markup import parse
from nmt.realtext import check

if TYPE_CHECKING:
    from nmt.config import DecodeConfig

try:
    from fastapi import FastAPI, Request
    from fastapi.responses import HTMLResponse, JSONResponse, Response
    from pydantic import BaseModel, ConfigDict, Field, ValidationError
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from nmt import libretranslate

    class TranslateRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        text: str | list[str]
        beam_size: int | None = Field(default=None, ge=1)
        n_best: int = Field(default=1, ge=1)
        alignment: bool = False
        glossary: dict[str, str] | None = None  # source term -> target term (constrained beam search)
        format: Literal["text", "html"] = "text"  # html: each text is a page, translated with its markup
        api_key: str | None = None  # needed when the server has keys
except ImportError:  # the optional extra: create_app and serve say how to install it
    pass


def page() -> tuple[str, str]:
    """The translation page and its Content-Security-Policy: its one inline script and style allowed by their
    hashes, requests to this server only, nothing else."""
    import base64
    import hashlib
    import re
    from importlib.resources import files

    html = files("nmt").joinpath("page.html").read_text(encoding="utf-8")

    def sha(tag: str) -> str:
        body = re.search(f"<{tag}>(.*?)</{tag}>", html, re.DOTALL)
        assert body is not None, f"nmt/page.html has no <{tag}>"
        return "'sha256-" + base64.b64encode(hashlib.sha256(body.group(1).encode()).digest()).decode() + "'"

    return html, (f"default-src 'none'; script-src {sha('script')}; style-src {sha('style')}; connect-src 'self'; "
                  "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


NOT_JSON = 'the body is not a JSON object in UTF-8; send {"text": "..."}'


@dataclass
class Limits:
    """What one request may ask, and how requests are batched."""

    max_lines: int = 64  # lines per request (413 past it)
    max_chars: int = 1000  # characters per line (413 past it)
    max_beam: int = 8  # beam size and n-best (422 past it)
    queue_size: int = 128  # requests waiting for the model (503 past it)
    batch_lines: int = 256  # at most this many lines go to the model at once
    batch_wait_ms: float = 5.0  # after a request arrives, wait this long for others to batch with it

    def validate(self) -> None:
        for name, value in dataclasses.asdict(self).items():
            if value < (0 if name == "batch_wait_ms" else 1):
                raise NmtError(f"--{name.replace('_', '-')} {value}: must be at least "
                               f"{0 if name == 'batch_wait_ms' else 1}")


class Engine(Protocol):
    """What the server needs from a model: its decode settings with a request's changes, translate lines with one
    set of settings, and describe itself."""

    def settings(self, **changes: Any) -> DecodeConfig: ...  # noqa: ANN401
    def translate_items(self, lines: list[str], decode: DecodeConfig, alignment: bool) -> list[dict]: ...
    def info(self) -> dict[str, Any]: ...


class TranslatorEngine:
    """A :class:`~nmt.translate.Translator` as the server's engine."""

    def __init__(self, translator: Any) -> None:  # noqa: ANN401
        self.translator = translator

    def settings(self, **changes: Any) -> DecodeConfig:  # noqa: ANN401
        return self.translator.settings(**changes)

    def translate_items(self, lines: list[str], decode: DecodeConfig, alignment: bool) -> list[dict]:
        """Per line ``{"text", "score"}``, plus ``"n_best": [{"text", "score", "log_prob"}, ...]`` when
        ``decode.n_best`` > 1 and ``"alignment"`` (Pharaoh ``i-j`` pairs of the best translation) when asked: one
        search either way."""
        from nmt.realtext import finish
        from nmt.translate import hypotheses_text

        t = self.translator
        found = t.search(lines, decode)
        nbests = finish(found.prep, hypotheses_text(t.tok, found.hyps))
        items = [{"text": nb[0].text, "score": nb[0].score} for nb in nbests]
        if decode.n_best > 1:
            for item, nb in zip(items, nbests):
                item["n_best"] = [t._asdict() for t in nb]
        if alignment:
            from nmt.attention_maps import explain_hypotheses

            for item, explained in zip(items, explain_hypotheses(t, found)):
                item["alignment"] = explained.pharaoh
        return items

    def info(self) -> dict[str, Any]:
        cfg = self.translator.cfg
        return {"run": str(self.translator.run_dir), "checkpoint": self.translator.checkpoint,
                "src_lang": cfg.data.src_lang, "tgt_lang": cfg.data.tgt_lang, "device": str(self.translator.device),
                "model": dataclasses.asdict(cfg.model), "decode": dataclasses.asdict(cfg.decode)}


class FileStore:
    """Translated files for ``/download_file``: at most ``count`` of them, each kept ``seconds``; the oldest go
    first. Held in memory (each at most the request body limit)."""

    def __init__(self, count: int = 32, seconds: float = 600.0) -> None:
        self.count, self.seconds = count, seconds
        self.files: dict[str, tuple[float, str, bytes]] = {}  # key -> (expiry, file name, content)

    def put(self, name: str, content: bytes) -> str:
        self.expire()
        while len(self.files) >= self.count:
            del self.files[next(iter(self.files))]
        key = f"{secrets.token_urlsafe(12)}.{name}"
        self.files[key] = (time.monotonic() + self.seconds, name, content)
        return key

    def get(self, key: str) -> tuple[str, bytes] | None:
        self.expire()
        found = self.files.get(key)
        return None if found is None else found[1:]

    def expire(self) -> None:
        now = time.monotonic()
        for key in [k for k, (expiry, _, _) in self.files.items() if expiry <= now]:
            del self.files[key]


@dataclass
class _Job:
    lines: list[str]
    options: tuple[DecodeConfig, bool]  # decode settings, alignment: jobs batch together when these agree
    done: asyncio.Future = field(repr=False)


class Batcher:
    """Collects the jobs that arrive together and runs them through the engine on one worker thread."""

    def __init__(self, engine: Engine, limits: Limits) -> None:
        self.engine, self.limits = engine, limits
        self.queue: asyncio.Queue[_Job] = asyncio.Queue(maxsize=limits.queue_size)
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nmt-model")
        self.model_calls = 0

    async def translate(self, lines: list[str], options: tuple[DecodeConfig, bool]) -> list[dict]:
        job = _Job(lines, options, asyncio.get_running_loop().create_future())
        self.queue.put_nowait(job)  # asyncio.QueueFull: the caller answers 503
        return await job.done

    async def run(self) -> None:
        """Forever: take the waiting jobs (up to ``batch_lines`` lines, waiting ``batch_wait_ms`` for more after
        the first), translate each group of jobs with the same options in one engine call, hand out results."""
        loop = asyncio.get_running_loop()
        while True:
            jobs = await self._collect()
            groups: list[tuple[tuple[DecodeConfig, bool], list[_Job]]] = []
            for job in jobs:
                if not job.done.done():  # a client that went away is not translated for
                    same = next((group for options, group in groups if options == job.options), None)
                    if same is None:
                        groups.append((job.options, [job]))
                    else:
                        same.append(job)
            for options, group in groups:
                lines = [line for job in group for line in job.lines]
                self.model_calls += 1
                try:
                    items = await loop.run_in_executor(self.worker, self.engine.translate_items, lines, *options)
                except Exception as err:  # noqa: BLE001 (one failed batch must not stop the server)
                    for job in group:
                        if not job.done.done():
                            job.done.set_exception(err)
                    continue
                start = 0
                for job in group:
                    if not job.done.done():
                        job.done.set_result(items[start : start + len(job.lines)])
                    start += len(job.lines)

    async def _collect(self) -> list[_Job]:
        loop = asyncio.get_running_loop()
        jobs = [await self.queue.get()]
        deadline = loop.time() + self.limits.batch_wait_ms / 1000
        lines = len(jobs[0].lines)
        while lines < self.limits.batch_lines:
            try:
                job = self.queue.get_nowait() if not self.queue.empty() else await asyncio.wait_for(
                    self.queue.get(), max(deadline - loop.time(), 0))
            except asyncio.TimeoutError:
                break
            jobs.append(job)
            lines += len(job.lines)
        return jobs


def _need_extra() -> None:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise NmtError('the server needs FastAPI and uvicorn; pip install -e ".[serve]" (or pip install fastapi '
                       'uvicorn)') from None


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _where(err: ValidationError) -> str:
    """The request field the first validation error is about."""
    return ".".join(str(part) for part in err.errors()[0].get("loc", ())) or "body"


def create_app(engine: Engine, limits: Limits | None = None, api_keys: frozenset[str] = frozenset()) -> FastAPI:
    """The FastAPI application serving ``engine`` under ``limits``; with ``api_keys``, every translation request
    must carry one (``api_key``)."""
    _need_extra()
    limits = limits or Limits()
    limits.validate()
    default_beam = engine.settings().beam_size
    if default_beam > limits.max_beam:
        raise NmtError(f"--max-beam {limits.max_beam} is below the run's decode.beam_size {default_beam}; "
                       "raise --max-beam or pass --set decode.beam_size=N")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.batcher = Batcher(engine, limits)
        task = asyncio.create_task(app.state.batcher.run())
        yield
        task.cancel()
        app.state.batcher.worker.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="nmt", lifespan=lifespan)
    max_body = limits.max_lines * (limits.max_chars * 4 + 16) + 1024  # UTF-8 is at most 4 bytes a character
    info = engine.info()
    src_lang, tgt_lang = info["src_lang"], info["tgt_lang"]

    async def read_body(request: Request) -> bytes | JSONResponse:
        """The body: at most ``max_body`` bytes, whether or not the client says how many it sends (413 past it)."""
        def too_large(size: str) -> JSONResponse:
            return _error(413, f"request body of {size} bytes; at most {max_body:,} ({limits.max_lines} lines of "
                          f"{limits.max_chars} characters)")

        size = request.headers.get("content-length")
        if size is not None and size.isdigit() and int(size) > max_body:
            return too_large(f"{int(size):,}")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_body:
                return too_large(f"over {max_body:,}")
        return bytes(body)

    async def payload(request: Request) -> dict[str, Any] | JSONResponse:
        """The body as a mapping (JSON, or a form as libretranslatepy sends)."""
        body = await read_body(request)
        if isinstance(body, JSONResponse):
            return body
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return _error(400, NOT_JSON)
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            form = parse_qs(text, keep_blank_values=True)
            return {key: values if key == "q" and len(values) > 1 else values[0] for key, values in form.items()}
        try:
            found = json.loads(text)
        except json.JSONDecodeError:
            found = None
        return found if isinstance(found, dict) else _error(422, NOT_JSON)

    async def run(request: Request, field: str, lines: list[str], changes: dict[str, Any],
                  alignment: bool = False) -> list[dict] | JSONResponse:
        """Per-line items for ``lines`` decoded with the run's settings and ``changes``, or the error response
        (``field``: the request field the lines came from, for the messages)."""
        if not lines:
            return _error(422, f"{field}: an empty list; send at least one sentence")
        if len(lines) > limits.max_lines:
            return _error(413, f"{field}: {len(lines)} lines; at most {limits.max_lines} per request")
        for number, line in enumerate(lines, 1):
            if len(line) > limits.max_chars:
                return _error(413, f"{field}: line {number} has {len(line)} characters; at most {limits.max_chars}")
        try:
            decode = engine.settings(**changes)
        except ConfigError as err:  # the request's fields are DecodeConfig's
            return _error(422, f"{err.field}: {err.reason}" if err.field else str(err))
        if decode.beam_size > limits.max_beam:
            return _error(422, f"beam_size: {decode.beam_size}; at most {limits.max_beam}")
        batcher: Batcher = request.app.state.batcher
        try:
            items = await batcher.translate(lines, (decode, alignment))
        except asyncio.QueueFull:
            return _error(503, f"the server is busy ({limits.queue_size} requests waiting); retry shortly")
        except NmtError as err:
            return _error(422, str(err))
        except Exception as err:  # noqa: BLE001
            return _error(500, f"translation failed: {type(err).__name__}: {err}")
        for line, item in zip(lines, items):  # what may be wrong: a span or sentence lost, a loop
            item["warnings"] = check(line, item["text"], src_lang, tgt_lang)
        return items

    def aligned(item: dict) -> tuple[str, list[tuple[int, int]]]:
        """An item searched with ``alignment`` as nmt/markup.py takes it: its text and word pairs."""
        from nmt.attention_maps import from_pharaoh

        return item["text"], from_pharaoh(item.get("alignment", ""))

    async def run_pages(request: Request, field: str, pages: list[str], changes: dict[str, Any],
                        ) -> list[dict] | JSONResponse:
        """Per page ``{"text", "warnings"}``: the page translated with its markup (nmt/markup.py), its texts
        searched with their word alignments, which place the inline tags."""
        parsed = [parse(page) for page in pages]
        lines = [text for page in parsed for text in page.texts]
        items = await run(request, field, lines, changes, alignment=True) if lines else []
        if isinstance(items, JSONResponse):
            return items
        out, at = [], 0
        for page in parsed:
            mine, at = items[at : at + len(page.texts)], at + len(page.texts)
            out.append({"text": page.render([aligned(item) for item in mine]),
                        "warnings": [w for item in mine for w in item["warnings"]]})
        return out

    store = FileStore()

    @app.post("/translate_file")
    async def translate_file(request: Request) -> Any:  # noqa: ANN401
        """LibreTranslate's file endpoint: a multipart ``file`` (txt, html/htm, srt, vtt by its extension; any
        other is plain text), ``source``, ``target``, ``api_key``; answers ``{"translatedFileUrl": ...}``."""
        from pathlib import Path

        from nmt.documents import asked, decode_utf8, format_of, translate_text

        body = await read_body(request)
        if isinstance(body, JSONResponse):
            return body
        request._body = body  # the form is parsed from the body read (and capped) above
        try:
            form = await request.form()
        except Exception:  # noqa: BLE001
            return _error(400, "the body is not a multipart form; send the fields file, source and target")
        if api_keys and form.get("api_key") not in api_keys:
            return _error(403, "api_key: missing or not one of this server's keys")
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            return _error(400, "file: missing; send the file as the multipart field 'file'")
        why = libretranslate.unsupported(libretranslate.LibreRequest(
            q="", source=str(form.get("source", "")), target=str(form.get("target", ""))), src_lang, tgt_lang)
        if why is not None:
            return _error(400, why)
        name = Path(upload.filename or "file.txt").name
        fmt = format_of(Path(name), None)
        try:
            text = decode_utf8(await upload.read(), name)
            needed = list(dict.fromkeys(asked(text, fmt, name)))  # each text the model must read, once
        except NmtError as err:
            return _error(400, str(err))
        decode, items = engine.settings(), []
        batcher: Batcher = request.app.state.batcher
        try:
            for start in range(0, len(needed), limits.max_lines):
                items += await batcher.translate(needed[start : start + limits.max_lines], (decode, fmt == "html"))
        except asyncio.QueueFull:
            return _error(503, f"the server is busy ({limits.queue_size} requests waiting); retry shortly")
        answers = dict(zip(needed, items))
        out = translate_text(text, fmt, lambda lines: [answers[line]["text"] for line in lines],
                             lambda lines, _: [aligned(answers[line]) for line in lines], name)
        key = store.put(name, out.encode("utf-8"))
        return {"translatedFileUrl": str(request.url_for("download_file", key=key))}

    @app.get("/download_file/{key}", name="download_file")
    async def download_file(key: str) -> Response:
        found = store.get(key)
        if found is None:
            return _error(404, f"/download_file/{key}: no such file (translated files are kept "
                          f"{store.seconds / 60:.0f} minutes)")
        name, content = found
        return Response(content, media_type="application/octet-stream",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}")

    html, policy = page()

    @app.get("/", response_class=HTMLResponse)
    async def index() -> HTMLResponse:
        return HTMLResponse(html, headers={"Content-Security-Policy": policy, "X-Content-Type-Options": "nosniff",
                                           "Referrer-Policy": "no-referrer"})

    @app.get("/favicon.ico")
    async def favicon() -> Response:
        return Response(status_code=204)  # browsers ask; the page has none

    @app.get("/health")
    async def health(request: Request) -> dict[str, Any]:
        batcher: Batcher = request.app.state.batcher
        return {"status": "ok", **engine.info(), "limits": dataclasses.asdict(limits),
                "queued": batcher.queue.qsize()}

    @app.get("/languages")
    async def languages() -> list[dict[str, Any]]:
        return libretranslate.languages(src_lang, tgt_lang)

    @app.post("/translate")
    async def translate(request: Request) -> Any:  # noqa: ANN401
        found = await payload(request)
        if isinstance(found, JSONResponse):
            return found
        if api_keys and found.get("api_key") not in api_keys:
            return _error(403, "api_key: missing or not one of this server's keys")
        if "q" in found:
            return await translate_libre(request, found)
        try:
            body = TranslateRequest.model_validate(found)
        except ValidationError as err:
            return _error(422, f"{_where(err)}: {err.errors()[0].get('msg', 'invalid')}; send {{\"text\": \"...\"}} "
                          "or {\"text\": [\"...\", ...]}")
        lines = [body.text] if isinstance(body.text, str) else body.text
        changes = {"beam_size": body.beam_size, "n_best": body.n_best, "glossary": body.glossary}
        if body.format == "html":
            if body.n_best > 1 or body.alignment:
                return _error(422, "format: html gives translated pages only; drop n_best / alignment")
            items = await run_pages(request, "text", lines, changes)
        else:
            items = await run(request, "text", lines, changes, body.alignment)
        return items if isinstance(items, JSONResponse) else {"translations": items}

    async def translate_libre(request: Request, found: dict[str, Any]) -> Any:  # noqa: ANN401
        try:
            body = libretranslate.LibreRequest.model_validate(found)
        except ValidationError as err:
            return _error(400, f"{_where(err)}: {err.errors()[0].get('msg', 'invalid')}")
        why = libretranslate.unsupported(body, src_lang, tgt_lang)
        if why is not None:
            return _error(400, why)
        texts, lines = libretranslate.texts_and_lines(body)
        if body.format == "html":  # a page each, without alternatives
            pages = await run_pages(request, "q", texts, {})
            return pages if isinstance(pages, JSONResponse) else libretranslate.answer(
                body.model_copy(update={"alternatives": 0}), texts, pages, [1] * len(texts))
        n = body.alternatives + 1
        items = await run(request, "q", lines, {"n_best": n, "beam_size": max(n, default_beam)})
        return items if isinstance(items, JSONResponse) else libretranslate.answer(body, texts, items)

    return app


def serve(translator: Any, host: str = "127.0.0.1", port: int = 8000, limits: Limits | None = None,  # noqa: ANN401
          api_keys: frozenset[str] = frozenset()) -> None:
    """Serve a loaded :class:`~nmt.translate.Translator` over HTTP until stopped (Ctrl-C)."""
    app = create_app(TranslatorEngine(translator), limits, api_keys)  # says how to install FastAPI and uvicorn
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="info")
