"""An HTTP translation server (FastAPI + uvicorn: ``pip install -e ".[serve]"``).

POST /translate takes ``{"text": "..."}`` or ``{"text": ["...", ...]}`` (optional ``beam_size``, ``n_best``,
``alignment``) and answers ``{"translations": [...]}``, one item per input line, in order. GET /health gives the
model's languages, config and the server's limits. Requests that arrive together are translated together
(dynamic batching): one worker thread runs the model, fed by a bounded queue; a full queue answers 503. What one
request may ask is limited (lines, characters per line, beam size: 413/422). Every error is a one-line JSON
``{"error": "..."}`` and the server keeps serving.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from nmt.errors import NmtError

try:
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from pydantic import BaseModel, ConfigDict, Field
    from starlette.exceptions import HTTPException as StarletteHTTPException

    class TranslateRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        text: str | list[str]
        beam_size: int | None = Field(default=None, ge=1)
        n_best: int = Field(default=1, ge=1)
        alignment: bool = False
except ImportError:  # the optional extra: create_app and serve say how to install it
    pass


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
    """What the server needs from a model: translate lines with one set of options, and describe itself."""

    def translate_items(self, lines: list[str], beam_size: int, n_best: int, alignment: bool) -> list[dict]: ...
    def info(self) -> dict[str, Any]: ...
    @property
    def default_beam(self) -> int: ...


class TranslatorEngine:
    """A :class:`~nmt.translate.Translator` as the server's engine."""

    def __init__(self, translator: Any) -> None:  # noqa: ANN401
        self.translator = translator

    @property
    def default_beam(self) -> int:
        return self.translator.cfg.decode.beam_size

    def translate_items(self, lines: list[str], beam_size: int, n_best: int, alignment: bool) -> list[dict]:
        """Per line ``{"text", "score"}``, plus ``"n_best": [{"text", "score", "log_prob"}, ...]`` when
        ``n_best`` > 1 and ``"alignment"`` (Pharaoh ``i-j`` pairs of the best translation) when asked."""
        nbests = self.translator.translate(lines, beam_size, n_best)
        items = [{"text": nb[0].text, "score": nb[0].score} for nb in nbests]
        if n_best > 1:
            for item, nb in zip(items, nbests):
                item["n_best"] = [t._asdict() for t in nb]
        if alignment:
            from nmt.attention_maps import explain

            for item, explained in zip(items, explain(self.translator, lines, beam_size)):
                item["alignment"] = explained.pharaoh
        return items

    def info(self) -> dict[str, Any]:
        cfg = self.translator.cfg
        return {"run": str(self.translator.run_dir), "checkpoint": self.translator.checkpoint,
                "src_lang": cfg.data.src_lang, "tgt_lang": cfg.data.tgt_lang, "device": str(self.translator.device),
                "model": dataclasses.asdict(cfg.model), "decode": dataclasses.asdict(cfg.decode)}


@dataclass
class _Job:
    lines: list[str]
    options: tuple[int, int, bool]  # beam size, n-best, alignment: jobs batch together when these agree
    done: asyncio.Future = field(repr=False)


class Batcher:
    """Collects the jobs that arrive together and runs them through the engine on one worker thread."""

    def __init__(self, engine: Engine, limits: Limits) -> None:
        self.engine, self.limits = engine, limits
        self.queue: asyncio.Queue[_Job] = asyncio.Queue(maxsize=limits.queue_size)
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nmt-model")
        self.model_calls = 0

    async def translate(self, lines: list[str], options: tuple[int, int, bool]) -> list[dict]:
        job = _Job(lines, options, asyncio.get_running_loop().create_future())
        self.queue.put_nowait(job)  # asyncio.QueueFull: the caller answers 503
        return await job.done

    async def run(self) -> None:
        """Forever: take the waiting jobs (up to ``batch_lines`` lines, waiting ``batch_wait_ms`` for more after
        the first), translate each group of jobs with the same options in one engine call, hand out results."""
        loop = asyncio.get_running_loop()
        while True:
            jobs = await self._collect()
            groups: dict[tuple[int, int, bool], list[_Job]] = {}
            for job in jobs:
                if not job.done.done():  # a client that went away is not translated for
                    groups.setdefault(job.options, []).append(job)
            for options, group in groups.items():
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


def create_app(engine: Engine, limits: Limits | None = None) -> FastAPI:
    """The FastAPI application serving ``engine`` under ``limits``."""
    _need_extra()
    limits = limits or Limits()
    limits.validate()
    if engine.default_beam > limits.max_beam:
        raise NmtError(f"--max-beam {limits.max_beam} is below the run's decode.beam_size {engine.default_beam}; "
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

    @app.middleware("http")
    async def refuse_large_bodies(request: Request, call_next):  # noqa: ANN001, ANN202
        size = request.headers.get("content-length")
        if size is not None and size.isdigit() and int(size) > max_body:
            return _error(413, f"request body of {int(size):,} bytes; at most {max_body:,} "
                          f"({limits.max_lines} lines of {limits.max_chars} characters)")
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or "body"
        if first.get("type") == "json_invalid" or where == "body":
            return _error(422, NOT_JSON)
        return _error(422, f"{where}: {first.get('msg', 'invalid')}; send {{\"text\": \"...\"}} or "
                      "{\"text\": [\"...\", ...]}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI could not parse the body (e.g. not UTF-8)
            return _error(400, NOT_JSON)
        return _error(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}")

    @app.get("/health")
    async def health(request: Request) -> dict[str, Any]:
        batcher: Batcher = request.app.state.batcher
        return {"status": "ok", **engine.info(), "limits": dataclasses.asdict(limits),
                "queued": batcher.queue.qsize()}

    @app.post("/translate")
    async def translate(body: TranslateRequest, request: Request) -> Any:  # noqa: ANN401
        lines = [body.text] if isinstance(body.text, str) else body.text
        if not lines:
            return _error(422, "text: an empty list; send at least one sentence")
        if len(lines) > limits.max_lines:
            return _error(413, f"text: {len(lines)} lines; at most {limits.max_lines} per request")
        for number, line in enumerate(lines, 1):
            if len(line) > limits.max_chars:
                return _error(413, f"text: line {number} has {len(line)} characters; at most {limits.max_chars}")
        beam = engine.default_beam if body.beam_size is None else body.beam_size
        if beam > limits.max_beam:
            return _error(422, f"beam_size: {beam}; at most {limits.max_beam}")
        if body.n_best > beam:
            return _error(422, f"n_best: {body.n_best} exceeds the beam size {beam}; raise beam_size")
        batcher: Batcher = request.app.state.batcher
        try:
            items = await batcher.translate(lines, (beam, body.n_best, body.alignment))
        except asyncio.QueueFull:
            return _error(503, f"the server is busy ({limits.queue_size} requests waiting); retry shortly")
        except NmtError as err:
            return _error(422, str(err))
        except Exception as err:  # noqa: BLE001
            return _error(500, f"translation failed: {type(err).__name__}: {err}")
        return {"translations": items}

    return app


def serve(translator: Any, host: str = "127.0.0.1", port: int = 8000, limits: Limits | None = None) -> None:  # noqa: ANN401
    """Serve a loaded :class:`~nmt.translate.Translator` over HTTP until stopped (Ctrl-C)."""
    app = create_app(TranslatorEngine(translator), limits)  # says how to install FastAPI and uvicorn if missing
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="info")
