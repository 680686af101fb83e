#!/usr/bin/env python3
"""Local servers that speak the Replicate, OpenAI Images and Gemini HTTP APIs as their public
references document them, for development and tests offline. The functions reach them
through the same official SDKs and code path as the real services; only the base URL and the
key differ (`functions/.env.local`, `functions/.secret.local`).

    python scripts/provider_fakes.py [--host 127.0.0.1] [--replicate 8191] [--openai 8192]
                                     [--gemini 8193]

Markers in the prompt choose what a fake does (else it succeeds with an image of the asked
size or aspect ratio):
  [nsfw]      the provider refuses (Replicate: failed with an NSFW error; OpenAI: 400
              moderation_blocked; Gemini: promptFeedback.blockReason, or IMAGE_SAFETY with
              [image-safety])
  [429]       the first call for this prompt answers 429 with a delay of 1 s, then it works
  [500]       every call answers 500
  [slow]      Replicate: the prediction stays `processing` (until canceled, or released by
              POST /_fake/predictions/{id}/release: then it succeeds)
  [notimage]  the output is not an image ([notimage:N]: only output N, from 0, of a call that
              makes several)
  [webp]      the output is WebP (Replicate's Flux default) instead of PNG
  [huge]      the output is a complete PNG of 12000x12000 pixels (1-bit, about 20 KB)
  [big]       Replicate: the output file is over 20 MB (sent chunked, no Content-Length)
  [stall]     Replicate: the output file sends its headers and 1 KB, then nothing for 60 s
Keys: any non-empty bearer token / API key is accepted except one containing "invalid"
(Replicate 401, OpenAI 401, Gemini 400 API_KEY_INVALID).

Edits: OpenAI `POST /v1/images/edits` (multipart: `image` or `image[]`, `prompt`, `model`,
`size`), Gemini `generateContent` with an `inlineData` image part, Replicate files
(`POST /v1/files`, multipart `content`) named by URL in a prediction's input (or a data URI).
Each server records the input images it received (the sha256 of their bytes), which tests
read at `GET /_fake/edits?prompt=` (not the providers' API).

Several images per call: OpenAI's `n` (1 to 10; `data` holds n items), Replicate's
`num_outputs` (1 to 4, as Flux's schema says; `output` lists that many file URLs). Each
server records the calls it answered (path, prompt, image count) at `GET /_fake/calls?prompt=`
(not the providers' API): Gemini, which has no such parameter, sees one call per image.
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import io
import json
import re
import threading
import time
import uuid
import zlib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

SEEN: set[str] = set()
LOCK = threading.Lock()
PREDICTIONS: dict[str, dict[str, Any]] = {}
FILES: dict[str, tuple[bytes, str]] = {}
UPLOADED: dict[str, dict[str, Any]] = {}  # Replicate files: id -> the file's JSON and bytes
EDITS: list[dict[str, Any]] = []  # every input image received, for tests
CALLS: list[dict[str, Any]] = []  # every generation or edit call answered, for tests
RATIOS = {"1:1": (1024, 1024), "9:16": (576, 1024), "16:9": (1024, 576), "2:3": (683, 1024)}


def image(width: int, height: int, fmt: str = "PNG", index: int = 0) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    color = (40 + 20 * (index % 8), 120, 200)  # the images of one call differ
    small = Image.new("RGB", (max(8, width // 8), max(8, height // 8)), color)
    small.resize((width, height)).save(buffer, format=fmt)
    return buffer.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body)
    return len(body).to_bytes(4, "big") + kind + body + crc.to_bytes(4, "big")


@functools.lru_cache(maxsize=1)
def huge_png(side: int = 12000) -> bytes:
    """A complete 1-bit greyscale PNG of side x side pixels: every row is there, and all of
    them compress to a few kilobytes (144 megapixels in about 20 KB)."""
    rows = zlib.compress(b"\x00" * (side * (1 + (side + 7) // 8)), 9)
    header = side.to_bytes(4, "big") * 2 + bytes([1, 0, 0, 0, 0])
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", rows)
        + png_chunk(b"IEND", b"")
    )


def output_for(prompt: str, width: int, height: int, fmt: str = "PNG", index: int = 0) -> bytes:
    """Output `index` of a call, as the prompt's markers ask."""
    if "[notimage]" in prompt or f"[notimage:{index}]" in prompt:
        return b"not an image"
    if "[huge]" in prompt:
        return huge_png()
    return image(width, height, fmt, index)


def called(provider: str, path: str, prompt: str, count: int, **extra: Any) -> None:
    """Remember a generation or edit call answered (not its images)."""
    with LOCK:
        CALLS.append(
            {"provider": provider, "path": path, "prompt": prompt, "count": count, **extra}
        )


def calls_seen(h: Handler) -> None:
    """Not a provider's API: the calls answered whose prompt contains `?prompt=`."""
    text = dict(parse_qsl(urlsplit(h.path).query)).get("prompt", "")
    with LOCK:
        found = [c for c in CALLS if text in c["prompt"]]
    h.send(200, {"data": found})


def received(provider: str, prompt: str, data: bytes, content_type: str, **extra: Any) -> None:
    """Remember an input image as it arrived (its bytes' sha256, not the bytes)."""
    with LOCK:
        EDITS.append(
            {
                "provider": provider,
                "prompt": prompt,
                "sha256": hashlib.sha256(data).hexdigest(),
                "size": len(data),
                "contentType": content_type,
                **extra,
            }
        )


def edits_seen(h: Handler) -> None:
    """Not a provider's API: the input images received whose prompt contains `?prompt=`."""
    text = dict(parse_qsl(urlsplit(h.path).query)).get("prompt", "")
    with LOCK:
        found = [e for e in EDITS if text in e["prompt"]]
    h.send(200, {"data": found})


def multipart(h: Handler) -> dict[str, tuple[bytes, str, str | None]]:
    """A multipart/form-data body: field name -> (bytes, content type, file name)."""
    from email.parser import BytesParser
    from email.policy import HTTP

    length = int(h.headers.get("Content-Length") or 0)
    raw = h.rfile.read(length) if length else b""
    header = f"Content-Type: {h.headers.get('Content-Type', '')}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(header + raw)
    fields: dict[str, tuple[bytes, str, str | None]] = {}
    if not message.is_multipart():
        return fields
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str):
            data = part.get_payload(decode=True) or b""
            fields[name] = (bytes(data), part.get_content_type(), part.get_filename())
    return fields


def first_time(key: str) -> bool:
    with LOCK:
        if key in SEEN:
            return False
        SEEN.add(key)
        return True


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave at once, as from a real server
    routes: list[tuple[str, str, Callable[..., None]]] = []

    def log_message(self, *args: object) -> None:
        pass

    def body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw or b"{}")
        except ValueError:
            return {}

    def send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        ctype = (headers or {}).pop("Content-Type", None) if headers else None
        self.send_header("Content-Type", ctype or "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def dispatch(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        for verb, pattern, handler in self.routes:
            match = re.fullmatch(pattern, path)
            if verb == method and match:
                handler(self, *match.groups())
                return
        self.send(404, {"detail": "Not found", "status": 404})

    def do_GET(self) -> None:  # noqa: N802
        self.dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self.dispatch("POST")


# --- Replicate: https://replicate.com/docs/reference/http ------------------------------


def replicate_auth(h: Handler) -> bool:
    token = h.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not token or "invalid" in token:
        h.send(401, {"title": "Unauthenticated", "detail": "Invalid token", "status": 401})
        return False
    return True


def prediction_json(h: Handler, p: dict[str, Any]) -> dict[str, Any]:
    host = f"http://{h.headers.get('Host')}"
    return {
        **{k: v for k, v in p.items() if not k.startswith("_")},
        "urls": {
            "get": f"{host}/v1/predictions/{p['id']}",
            "cancel": f"{host}/v1/predictions/{p['id']}/cancel",
        },
    }


def finish(h: Handler, p: dict[str, Any]) -> None:
    """Move a prediction to its end state, as its prompt asks."""
    prompt = str(p["input"].get("prompt", ""))
    if p["status"] in ("succeeded", "failed", "canceled"):
        return
    if "[slow]" in prompt and not p.get("_released"):
        return
    if "[nsfw]" in prompt:
        p.update(status="failed", error="NSFW content detected. Try running it again.")
        return
    width, height = RATIOS.get(str(p["input"].get("aspect_ratio")), (1024, 1024))
    webp = "[webp]" in prompt
    urls = []
    for index in range(num_outputs(p["input"])):  # one file per output, as Flux's are
        data = output_for(prompt, width, height, "WEBP" if webp else "PNG", index)
        name = f"{p['id']}-{index}.{'webp' if webp else 'png'}"
        FILES[name] = (data, "image/webp" if webp else "image/png")
        for marker in ("[big]", "[stall]"):
            if marker in prompt:
                FILES[name] = (marker.encode(), "image/png")
        urls.append(f"http://{h.headers.get('Host')}/files/{name}")
    p.update(
        status="succeeded",
        output=urls,
        completed_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        metrics={"predict_time": 0.05, "total_time": 0.06},
    )


def num_outputs(inputs: dict[str, Any]) -> int:
    """The input `num_outputs` (Flux, SDXL: "Number of outputs to generate", 1 by default)."""
    value = inputs.get("num_outputs", 1)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def replicate_create(h: Handler, owner: str | None = None, name: str | None = None) -> None:
    if not replicate_auth(h):
        return
    body = h.body()
    prompt = str(body.get("input", {}).get("prompt", ""))
    count = num_outputs(body.get("input", {}))
    if not 1 <= count <= 4:
        h.send(
            422,
            {
                "title": "Input validation failed",
                "detail": "- input.num_outputs: Must be an integer from 1 to 4",
                "status": 422,
                "invalid_fields": [
                    {
                        "type": "invalid",
                        "field": "input.num_outputs",
                        "description": "Must be an integer from 1 to 4",
                    }
                ],
            },
        )
        return
    if "[500]" in prompt:
        h.send(500, {"title": "Internal Server Error", "status": 500})
        return
    if "[429]" in prompt and first_time("replicate:" + prompt):
        h.send(
            429,
            {"title": "Too Many Requests", "detail": "throttled", "status": 429},
            {"Retry-After": "1"},
        )
        return
    if owner is None and not body.get("version"):
        h.send(422, {"title": "Invalid version", "detail": "version is required", "status": 422})
        return
    for field, (data, ctype) in input_files(body.get("input", {})).items():
        received("replicate", prompt, data, ctype, input=field, model=f"{owner}/{name}")
    p = {
        "id": uuid.uuid4().hex[:20],
        "model": f"{owner}/{name}" if owner else "owner/model",
        "version": body.get("version") or "hidden",
        "input": body.get("input", {}),
        "logs": "",
        "output": None,
        "error": None,
        "status": "starting",
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "_cancel_after": h.headers.get("Cancel-After"),
        "_prefer": h.headers.get("Prefer"),
    }
    PREDICTIONS[p["id"]] = p
    called("replicate", h.path.split("?", 1)[0], prompt, count, predictionId=p["id"])
    if (h.headers.get("Prefer") or "").startswith("wait"):
        finish(h, p)
    if p["status"] == "starting" and "[slow]" in prompt:
        p["status"] = "processing"
    h.send(201, prediction_json(h, p))


def replicate_upload(h: Handler) -> None:
    """`POST /v1/files` (https://replicate.com/docs/reference/http#files.create): a file for a
    model's input, as multipart/form-data with the file in `content` (and optional JSON
    `metadata`); answers with the file's JSON, whose `urls.get` names it in an input."""
    if not replicate_auth(h):
        return
    fields = multipart(h)
    if "content" not in fields:
        h.send(400, {"title": "Bad request", "detail": "content is required", "status": 400})
        return
    data, ctype, filename = fields["content"]
    fid = uuid.uuid4().hex[:24]
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    meta = fields.get("metadata")
    UPLOADED[fid] = {
        "id": fid,
        "name": filename or "file",
        "content_type": ctype,
        "size": len(data),
        "etag": hashlib.md5(data).hexdigest(),  # noqa: S324 (an etag, not security)
        "checksums": {
            "sha256": hashlib.sha256(data).hexdigest(),
            "md5": hashlib.md5(data).hexdigest(),  # noqa: S324
        },
        "metadata": json.loads(meta[0]) if meta else {},
        "created_at": now,
        "expires_at": None,
        "urls": {"get": f"http://{h.headers.get('Host')}/v1/files/{fid}"},
        "_data": data,
    }
    h.send(201, file_json(UPLOADED[fid]))


def file_json(f: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in f.items() if not k.startswith("_")}


def replicate_file_get(h: Handler, fid: str) -> None:
    if not replicate_auth(h):
        return
    f = UPLOADED.get(fid)
    h.send(200 if f else 404, file_json(f) if f else {"detail": "Not found", "status": 404})


def input_files(inputs: dict[str, Any]) -> dict[str, tuple[bytes, str]]:
    """The files a prediction's input names: uploaded files by URL, or data URIs."""
    found: dict[str, tuple[bytes, str]] = {}
    for name, value in inputs.items():
        if not isinstance(value, str):
            continue
        match = re.search(r"/v1/files/([^/?]+)$", value)
        if match and match.group(1) in UPLOADED:
            f = UPLOADED[match.group(1)]
            found[name] = (f["_data"], f["content_type"])
        elif value.startswith("data:") and ";base64," in value:
            head, _, encoded = value.partition(";base64,")
            data = proto_bytes(encoded)
            if data is not None:
                found[name] = (data, head.removeprefix("data:"))
    return found


def replicate_get(h: Handler, pid: str) -> None:
    if not replicate_auth(h):
        return
    p = PREDICTIONS.get(pid)
    if p is None:
        h.send(404, {"title": "Not found", "detail": "Prediction not found", "status": 404})
        return
    finish(h, p)
    h.send(200, prediction_json(h, p))


def replicate_cancel(h: Handler, pid: str) -> None:
    if not replicate_auth(h):
        return
    p = PREDICTIONS.get(pid)
    if p is None:
        h.send(404, {"title": "Not found", "status": 404})
        return
    if p["status"] in ("starting", "processing"):
        p["status"] = "canceled"
    h.send(200, prediction_json(h, p))


def replicate_file(h: Handler, name: str) -> None:
    if name not in FILES:
        h.send(404, {"detail": "gone"})
        return
    data, ctype = FILES[name]
    if data == b"[big]":
        send_chunked(h, ctype, b"\x89PNG\r\n\x1a\n" + bytes(1024 * 1024 - 8), 21)
    elif data == b"[stall]":
        send_stalled(h, ctype, 64 * 1024, stall=60.0)
    else:
        h.send(200, data, {"Content-Type": ctype})


def send_chunked(h: Handler, ctype: str, block: bytes, count: int) -> None:
    """`count` copies of `block` with chunked transfer coding (no Content-Length)."""
    h.send_response(200)
    h.send_header("Content-Type", ctype)
    h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    try:
        for _ in range(count):
            h.wfile.write(f"{len(block):x}\r\n".encode() + block + b"\r\n")
        h.wfile.write(b"0\r\n\r\n")
    except OSError:  # the client stopped reading: that is what it should do
        h.close_connection = True


def send_stalled(h: Handler, ctype: str, length: int, stall: float) -> None:
    """Headers for `length` bytes and the first kilobyte, then nothing for `stall` seconds."""
    h.send_response(200)
    h.send_header("Content-Type", ctype)
    h.send_header("Content-Length", str(length))
    h.end_headers()
    try:
        h.wfile.write(b"\x89PNG\r\n\x1a\n" + bytes(1016))
        h.wfile.flush()
        time.sleep(stall)
        h.wfile.write(bytes(length - 1024))
    except OSError:
        pass
    h.close_connection = True


def replicate_admin(h: Handler, pid: str) -> None:
    """Not Replicate's: lets tests see what the fake was asked (headers, cancel)."""
    p = PREDICTIONS.get(pid)
    h.send(200 if p else 404, p or {})


def replicate_admin_find(h: Handler) -> None:
    """Not Replicate's: the predictions whose prompt contains `?prompt=`."""
    text = dict(parse_qsl(urlsplit(h.path).query)).get("prompt", "")
    found = [p for p in list(PREDICTIONS.values()) if text in str(p["input"].get("prompt", ""))]
    h.send(200, {"data": found})


def replicate_admin_release(h: Handler, pid: str) -> None:
    """Not Replicate's: let a `[slow]` prediction finish (it succeeds at its next poll)."""
    p = PREDICTIONS.get(pid)
    if p is not None:
        p["_released"] = True
    h.send(200 if p else 404, p or {})


# --- OpenAI Images: https://platform.openai.com/docs/api-reference/images/create -----------


def openai_auth(h: Handler, rid: str) -> bool:
    key = h.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not key or "invalid" in key:
        h.send(
            401,
            {
                "error": {
                    "message": "Incorrect API key provided.",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "invalid_api_key",
                }
            },
            {"x-request-id": rid},
        )
        return False
    return True


def openai_invalid(h: Handler, rid: str, param: str, message: str) -> None:
    error = {"message": message, "type": "invalid_request_error", "param": param}
    h.send(400, {"error": {**error, "code": "invalid_value"}}, {"x-request-id": rid})


def openai_generate(h: Handler) -> None:
    rid = "req_" + uuid.uuid4().hex
    if openai_auth(h, rid):
        openai_answer(h, rid, h.body())


def openai_edit(h: Handler) -> None:
    """`POST /v1/images/edits` (https://platform.openai.com/docs/api-reference/images/createEdit):
    multipart/form-data with the image(s) to edit (`image`, or `image[]` for several; PNG,
    WebP or JPEG), `prompt`, `model`, `size`; answers as a generation does."""
    rid = "req_" + uuid.uuid4().hex
    if not openai_auth(h, rid):
        return
    if not h.headers.get("Content-Type", "").startswith("multipart/form-data"):
        openai_invalid(h, rid, "image", "Expected multipart/form-data.")
        return
    fields = multipart(h)
    body = {k: v[0].decode("utf-8", "replace") for k, v in fields.items() if v[2] is None}
    image = fields.get("image") or fields.get("image[]")
    if image is None or image[2] is None:
        openai_invalid(h, rid, "image", "An image file is required.")
        return
    if image[1] not in ("image/png", "image/jpeg", "image/webp"):
        openai_invalid(h, rid, "image", f"Invalid file type {image[1]!r}.")
        return
    if not body.get("prompt"):
        openai_invalid(h, rid, "prompt", "A prompt is required.")
        return
    received(
        "openai",
        body["prompt"],
        image[0],
        image[1],
        model=body.get("model"),
        requestedSize=body.get("size"),
        requestId=rid,
    )
    openai_answer(h, rid, body)


def openai_answer(h: Handler, rid: str, body: dict[str, Any]) -> None:
    """The answer to a generation or an edit, as its prompt's markers ask."""
    prompt = str(body.get("prompt", ""))
    size = str(body.get("size", "1024x1024"))
    try:  # JSON gives an integer, a multipart form its text
        count = int(body.get("n", 1))
    except (TypeError, ValueError):
        count = 0
    called("openai", h.path.split("?", 1)[0], prompt, count, requestId=rid)
    if size not in ("1024x1024", "1536x1024", "1024x1536", "auto") or "response_format" in body:
        openai_invalid(h, rid, "size", f"Invalid size '{size}'.")
        return
    if "[nsfw]" in prompt:
        h.send(
            400,
            {
                "error": {
                    "message": "Your request was rejected by the safety system.",
                    "type": "image_generation_user_error",
                    "param": None,
                    "code": "moderation_blocked",
                }
            },
            {"x-request-id": rid},
        )
        return
    if "[500]" in prompt:
        h.send(
            500,
            {
                "error": {
                    "message": "The server had an error.",
                    "type": "server_error",
                    "param": None,
                    "code": None,
                }
            },
            {"x-request-id": rid},
        )
        return
    if "[429]" in prompt and first_time("openai:" + prompt):
        h.send(
            429,
            {
                "error": {
                    "message": "Rate limit reached.",
                    "type": "requests",
                    "param": None,
                    "code": "rate_limit_exceeded",
                }
            },
            {"x-request-id": rid, "retry-after": "1"},
        )
        return
    if not 1 <= count <= 10:
        openai_invalid(h, rid, "n", f"Invalid 'n': {body.get('n')!r}. Expected 1 to 10.")
        return
    width, height = (int(v) for v in (size if size != "auto" else "1024x1024").split("x"))
    items = [
        {"b64_json": base64.b64encode(output_for(prompt, width, height, index=i)).decode()}
        for i in range(count)
    ]
    h.send(
        200,
        {
            "created": int(time.time()),
            "data": items,
            "usage": {
                "total_tokens": 100,
                "input_tokens": 50,
                "output_tokens": 50,
                "input_tokens_details": {"text_tokens": 50, "image_tokens": 0},
            },
        },
        {"x-request-id": rid},
    )


# --- Gemini: https://ai.google.dev/api/generate-content -----------------------------------


def gemini_error(h: Handler, code: int, status: str, message: str, details: list) -> None:
    h.send(
        code, {"error": {"code": code, "message": message, "status": status, "details": details}}
    )


def proto_field(message: dict[str, Any], json_name: str, proto_name: str) -> Any:
    return message.get(json_name, message.get(proto_name))


def proto_bytes(text: str) -> bytes | None:
    """A `bytes` field of the JSON mapping of protobuf: standard or URL-safe base64, with or
    without padding."""
    try:
        padded = text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4)
        return base64.b64decode(padded, validate=True)
    except ValueError:
        return None


def gemini_generate(h: Handler, version: str, model: str) -> None:
    key = h.headers.get("x-goog-api-key") or ""
    if not key or "invalid" in key:
        gemini_error(
            h,
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                }
            ],
        )
        return
    body = h.body()
    parts = [p for c in body.get("contents", []) for p in c.get("parts", [])]
    prompt = " ".join(str(p.get("text", "")) for p in parts if "text" in p)
    for index, part in enumerate(parts):  # input images: `inlineData` parts
        # The JSON mapping of protobuf accepts a field's lowerCamelCase or original name.
        inline = proto_field(part, "inlineData", "inline_data")
        if not isinstance(inline, dict):
            continue
        data = proto_bytes(str(inline.get("data", "")))
        mime = proto_field(inline, "mimeType", "mime_type")
        if data is None or not mime:
            gemini_error(h, 400, "INVALID_ARGUMENT", "Invalid inline_data.", [])
            return
        received("gemini", prompt, data, str(mime), model=model, partIndex=index)
    config = body.get("generationConfig", {})
    called("gemini", h.path.split("?", 1)[0], prompt, 1, model=model)
    usage = {"promptTokenCount": 20, "candidatesTokenCount": 1290, "totalTokenCount": 1310}
    if "[500]" in prompt:
        gemini_error(h, 500, "INTERNAL", "An internal error has occurred.", [])
        return
    if "[429]" in prompt and first_time("gemini:" + prompt):
        gemini_error(
            h,
            429,
            "RESOURCE_EXHAUSTED",
            "Resource has been exhausted.",
            [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}],
        )
        return
    if "[nsfw]" in prompt and "[image-safety]" not in prompt:
        h.send(
            200,
            {
                "promptFeedback": {"blockReason": "SAFETY"},
                "usageMetadata": usage,
                "modelVersion": model,
                "responseId": uuid.uuid4().hex,
            },
        )
        return
    if "IMAGE" not in [m.upper() for m in config.get("responseModalities", [])]:
        text = "Refined: " + prompt.split("Prompt:", 1)[-1].strip()
        h.send(
            200,
            {
                "candidates": [
                    {
                        "content": {"role": "model", "parts": [{"text": text}]},
                        "finishReason": "STOP",
                        "index": 0,
                    }
                ],
                "usageMetadata": usage,
                "modelVersion": model,
                "responseId": uuid.uuid4().hex,
            },
        )
        return
    if "[image-safety]" in prompt:
        h.send(
            200,
            {
                "candidates": [
                    {
                        "content": {"role": "model", "parts": []},
                        "finishReason": "IMAGE_SAFETY",
                        "index": 0,
                    }
                ],
                "usageMetadata": usage,
                "modelVersion": model,
                "responseId": uuid.uuid4().hex,
            },
        )
        return
    ratio = config.get("imageConfig", {}).get("aspectRatio", "1:1")
    width, height = RATIOS.get(ratio, (1024, 1024))
    data = output_for(prompt, width, height)
    h.send(
        200,
        {
            "candidates": [
                {
                    "content": {
                        "role": "model",
                        "parts": [
                            {"text": "Here is your image."},
                            {
                                "inlineData": {
                                    "mimeType": "image/png",
                                    "data": base64.b64encode(data).decode(),
                                }
                            },
                        ],
                    },
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": usage,
            "modelVersion": model,
            "responseId": uuid.uuid4().hex,
        },
    )


def serve(host: str, port: int, routes: list[tuple[str, str, Callable[..., None]]]) -> None:
    handler = type("Routes", (Handler,), {"routes": routes})
    server = ThreadingHTTPServer((host, port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--replicate", type=int, default=8191)
    parser.add_argument("--openai", type=int, default=8192)
    parser.add_argument("--gemini", type=int, default=8193)
    args = parser.parse_args()
    serve(
        args.host,
        args.replicate,
        [
            ("POST", r"/v1/models/([^/]+)/([^/]+)/predictions", replicate_create),
            ("POST", r"/v1/predictions", replicate_create),
            ("GET", r"/v1/predictions/([^/]+)", replicate_get),
            ("POST", r"/v1/predictions/([^/]+)/cancel", replicate_cancel),
            ("GET", r"/files/([^/]+)", replicate_file),
            ("POST", r"/v1/files", replicate_upload),
            ("GET", r"/v1/files/([^/]+)", replicate_file_get),
            ("GET", r"/_fake/edits", edits_seen),
            ("GET", r"/_fake/calls", calls_seen),
            ("GET", r"/_fake/predictions/([^/]+)", replicate_admin),
            ("GET", r"/_fake/predictions", replicate_admin_find),
            ("POST", r"/_fake/predictions/([^/]+)/release", replicate_admin_release),
        ],
    )
    serve(
        args.host,
        args.openai,
        [
            ("POST", r"/v1/images/generations", openai_generate),
            ("POST", r"/v1/images/edits", openai_edit),
            ("GET", r"/_fake/edits", edits_seen),
            ("GET", r"/_fake/calls", calls_seen),
        ],
    )
    serve(
        args.host,
        args.gemini,
        [
            ("POST", r"/(v1beta|v1)/models/([^/:]+):generateContent", gemini_generate),
            ("GET", r"/_fake/edits", edits_seen),
            ("GET", r"/_fake/calls", calls_seen),
        ],
    )
    print(
        f"provider fakes: Replicate :{args.replicate}, OpenAI :{args.openai}, "
        f"Gemini :{args.gemini}",
        flush=True,
    )
    threading.Event().wait()


if __name__ == "__main__":
    main()
