"""LibreTranslate's API, spoken by ``nmt serve`` beside its own (the shapes only; the server does the work).

``POST /translate`` with ``q`` (a string or a list), ``source``, ``target``, ``format`` (text or html),
``alternatives`` and ``api_key``, as JSON or as a form (libretranslatepy sends forms), answers
``{"translatedText": ...}`` (plus ``"alternatives"``); ``GET /languages`` lists the run's pair. A text with several
lines is translated line by line; an html text is a page, translated with its markup (nmt/markup.py), without
alternatives.
Errors are ``{"error": "..."}`` with status 400 (403 for a missing or wrong key when the server has keys).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

NAMES = {"ar": "Arabic", "cs": "Czech", "da": "Danish", "de": "German", "el": "Greek", "en": "English",
         "es": "Spanish", "fi": "Finnish", "fr": "French", "it": "Italian", "ja": "Japanese", "nl": "Dutch",
         "pl": "Polish", "pt": "Portuguese", "ru": "Russian", "sv": "Swedish", "tr": "Turkish", "uk": "Ukrainian",
         "zh": "Chinese"}


class LibreRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")  # as LibreTranslate: clients send fields of later versions
    q: str | list[str]
    source: str
    target: str
    format: str = "text"
    alternatives: int = Field(default=0, ge=0)
    api_key: str | None = None


def languages(src: str, tgt: str) -> list[dict[str, Any]]:
    """``GET /languages``: each language with the languages it translates into."""
    return [{"code": src, "name": NAMES.get(src, src), "targets": [tgt]},
            {"code": tgt, "name": NAMES.get(tgt, tgt), "targets": []}]


def unsupported(body: LibreRequest, src: str, tgt: str) -> str | None:
    """Why the server cannot answer ``body`` (one line), or None."""
    if body.source not in (src, "auto"):
        return f"source: {body.source!r} is not supported; this server translates {src} -> {tgt} (GET /languages)"
    if body.target != tgt:
        return f"target: {body.target!r} is not supported; this server translates {src} -> {tgt} (GET /languages)"
    if body.format not in ("text", "html"):
        return f"format: {body.format!r} is not supported; send format: text or html"
    return None


def texts_and_lines(body: LibreRequest) -> tuple[list[str], list[str]]:
    """The request's texts, and their lines (each text split at newlines) in order."""
    texts = [body.q] if isinstance(body.q, str) else body.q
    return texts, [line for text in texts for line in text.split("\n")]


def answer(body: LibreRequest, texts: list[str], items: list[dict], sizes: list[int] | None = None) -> dict[str, Any]:
    """LibreTranslate's response from the server's per-line items (``text`` and, with alternatives, ``n_best``):
    the lines of each text joined back (``sizes``: items per text, default one per line); alternative j of a
    text joins each line's j-th hypothesis after the best; ``warnings``, nmt's own field, lists what may be wrong
    with each text's translation."""
    translated, alternatives, warnings, start = [], [], [], 0
    for i, text in enumerate(texts):
        group = items[start : start + (text.count("\n") + 1 if sizes is None else sizes[i])]
        start += len(group)
        translated.append("\n".join(item["text"] for item in group))
        warnings.append([w for item in group for w in item.get("warnings", [])])
        others = [[h["text"] for h in item.get("n_best", [])[1:]] for item in group]
        count = min((len(o) for o in others), default=0)
        alternatives.append(["\n".join(o[j] for o in others) for j in range(min(count, body.alternatives))])
    single = isinstance(body.q, str)
    out: dict[str, Any] = {"translatedText": translated[0] if single else translated}
    if body.alternatives:
        out["alternatives"] = alternatives[0] if single else alternatives
    out["warnings"] = warnings[0] if single else warnings  # nmt's own field: what may be wrong (see /translate)
    return out
