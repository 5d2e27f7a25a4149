"""A scriptable OpenAI-compatible HTTP server on 127.0.0.1, for tests and benches.

The real `openai` client (and LangChain's `ChatOpenAI` / `OpenAIEmbeddings` over it) talks to
this server over real HTTP, so everything up to the network boundary is exercised: request
building, retries and backoff, timeouts, SSE stream parsing, tool-call assembly.

    from tests.openai_server import OpenAIServer, Reply   # or `from openai_server import ...`

    with OpenAIServer() as server:                        # or use the `openai_server` fixture
        server.queue_chat(Reply.error(429), Reply.text("Hello"))   # next two chat completions
        settings = settings.with_(openai_base_url=server.base_url)
        ...
        server.chat_requests[-1]["messages"]              # what the client sent

What it serves:
- `POST /v1/chat/completions`: the next queued `Reply`, else `server.chat_handler(body)` if
  set, else an HTTP 500 saying nothing was scripted (so a forgotten script fails loudly).
  A reply is sent as plain JSON, or as SSE `data: {...}` chunks ending in `data: [DONE]` when
  the request has `"stream": true`. Replies can carry text (`Reply.text`), a tool call
  (`Reply.tool_call`), an HTTP error with headers (`Reply.error`), a delay before answering
  (`delay=`, for timeouts), a pause mid-stream until a `threading.Event` is set (`pause_after=`
  and `gate=`, to prove output is shown while a reply is still arriving), a raw body
  (`Reply.raw`), or a connection dropped mid-stream (`hang_up_after=`).
- `POST /v1/embeddings`: the next queued embeddings `Reply` (errors only), else deterministic
  hashed bag-of-words vectors (`hash_embedding`), so texts sharing words are near each other.
  Honours `encoding_format: "base64"` (the openai client's default).
- `GET /v1/models`: the model list.
Every request is recorded in `server.requests` as `Recorded(method, path, headers, body)`.
"""

from __future__ import annotations

import base64
import json
import re
import struct
import threading
import time
import zlib
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

EMBED_DIM = 64


@dataclass
class Reply:
    """One scripted response. Build with the class methods; tweak fields as needed."""

    content: str | None = None
    tool_calls: list[tuple[str, str]] = field(default_factory=list)  # (name, JSON arguments)
    status: int = 200
    body: Any = None  # error body (JSON-able) or raw text when `raw` is set
    raw: bool = False  # send `body` verbatim as text/plain-ish JSON content-type
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering at all
    chunk_size: int = 8  # characters per streamed delta
    pause_after: int | None = None  # streaming: after this many deltas, wait for `gate`
    gate: threading.Event | None = None
    hang_up_after: int | None = None  # streaming: close the connection after this many deltas
    finish_reason: str | None = None
    deltas: list[dict] | None = None  # streaming: these `delta` objects verbatim ({} = no choice)

    @classmethod
    def text(cls, content: str, **kw: Any) -> "Reply":
        return cls(content=content, **kw)

    @classmethod
    def tool_call(cls, name: str, arguments: dict | str, **kw: Any) -> "Reply":
        args = arguments if isinstance(arguments, str) else json.dumps(arguments)
        return cls(tool_calls=[(name, args)], **kw)

    @classmethod
    def error(cls, status: int, message: str = "scripted error", retry_after_ms: int | None = None,
              **kw: Any) -> "Reply":
        headers = dict(kw.pop("headers", {}))
        if retry_after_ms is not None:
            headers["retry-after-ms"] = str(retry_after_ms)
        body = {"error": {"message": message, "type": "scripted", "code": status}}
        return cls(status=status, body=body, headers=headers, **kw)

    @classmethod
    def stream_of(cls, deltas: list[dict], finish_reason: str = "stop", **kw: Any) -> "Reply":
        """A stream of exactly these deltas (as odd servers send them); `{}` sends a chunk
        with no choices at all."""
        return cls(deltas=deltas, finish_reason=finish_reason, **kw)

    @classmethod
    def raw_body(cls, text: str, status: int = 200, **kw: Any) -> "Reply":
        return cls(status=status, body=text, raw=True, **kw)


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: Any  # parsed JSON, or the raw text if it was not JSON


def hash_embedding(text: str, dim: int = EMBED_DIM) -> list[float]:
    """A deterministic bag-of-words vector: each lower-cased word adds 1 to a hashed slot."""
    vec = [0.0] * dim
    for word in re.findall(r"\w+", text.lower()):
        vec[zlib.crc32(word.encode()) % dim] += 1.0
    norm = sum(v * v for v in vec) ** 0.5 or 1.0
    return [v / norm for v in vec]


class OpenAIServer:
    def __init__(self, model: str = "test-model"):
        self.model = model
        self.requests: list[Recorded] = []
        self.chat_handler: Callable[[dict], Reply] | None = None
        self._chat: deque[Reply] = deque()
        self._embeddings: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = _Server(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> "OpenAIServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # cuts scripted delays and pauses short
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "OpenAIServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- scripting ------------------------------------------------------------------------

    def queue_chat(self, *replies: Reply) -> None:
        with self._lock:
            self._chat.extend(replies)

    def queue_embeddings(self, *replies: Reply) -> None:
        with self._lock:
            self._embeddings.extend(replies)

    @property
    def chat_requests(self) -> list[dict]:
        return [r.body for r in self.requests if r.path.endswith("/chat/completions")]

    @property
    def embedding_requests(self) -> list[dict]:
        return [r.body for r in self.requests if r.path.endswith("/embeddings")]

    def _next(self, queue: deque[Reply]) -> Reply | None:
        with self._lock:
            return queue.popleft() if queue else None

    def _record(self, rec: Recorded) -> None:
        with self._lock:
            self.requests.append(rec)


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # the default backlog (5) resets connections when 50 threads ask at once

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)  # a client hanging up is not news


def _handler_for(server: OpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like real servers; streams are chunked

        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:
            server._record(Recorded("GET", self.path, _headers(self), None))
            if self.path.rstrip("/").endswith("/models"):
                self._json(200, {"object": "list", "data": [
                    {"id": server.model, "object": "model", "created": 0, "owned_by": "test"}]})
            else:
                self._json(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                body = raw.decode("utf-8", "replace")
            server._record(Recorded("POST", self.path, _headers(self), body))
            try:
                if self.path.endswith("/chat/completions"):
                    self._chat(body)
                elif self.path.endswith("/embeddings"):
                    self._embeddings(body)
                else:
                    self._json(404, {"error": {"message": f"no route {self.path}"}})
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test): nothing to answer

        # -- routes -----------------------------------------------------------------------

        def _chat(self, body: dict) -> None:
            reply = server._next(server._chat)
            if reply is None and server.chat_handler is not None:
                reply = server.chat_handler(body)
            if reply is None:
                reply = Reply.error(500, "the test server has no reply scripted")
            if reply.delay and server._stopping.wait(reply.delay):
                return
            if reply.status != 200 or reply.raw:
                self._send_error_or_raw(reply)
            elif body.get("stream"):
                self._stream(reply, body)
            else:
                self._json(200, _completion(reply, server.model), reply.headers)

        def _embeddings(self, body: dict) -> None:
            reply = server._next(server._embeddings)
            if reply is not None:
                if reply.delay and server._stopping.wait(reply.delay):
                    return
                self._send_error_or_raw(reply)
                return
            texts = body.get("input", [])
            texts = [texts] if isinstance(texts, str) else texts
            data = []
            for i, text in enumerate(texts):
                vec = hash_embedding(text if isinstance(text, str) else " ".join(map(str, text)))
                emb: Any = vec
                if body.get("encoding_format") == "base64":
                    emb = base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode()
                data.append({"object": "embedding", "index": i, "embedding": emb})
            self._json(200, {"object": "list", "data": data, "model": body.get("model", "x"),
                             "usage": {"prompt_tokens": 0, "total_tokens": 0}})

        # -- writing ----------------------------------------------------------------------

        def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _send_error_or_raw(self, reply: Reply) -> None:
            if reply.raw:
                data = str(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
            else:
                self._json(reply.status, reply.body, reply.headers)

        def _stream(self, reply: Reply, body: dict) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            for k, v in reply.headers.items():
                self.send_header(k, v)
            self.end_headers()
            for n, chunk in enumerate(_stream_chunks(reply, server.model, body)):
                if reply.hang_up_after is not None and n > reply.hang_up_after:
                    self.close_connection = True
                    self.wfile.flush()
                    self.connection.shutdown(2)  # mid-stream drop, no terminating chunk
                    return
                if reply.pause_after is not None and n == reply.pause_after + 1 and reply.gate:
                    reply.gate.wait(timeout=60)
                self._chunk(f"data: {json.dumps(chunk)}\n\n")
            self._chunk("data: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        def _chunk(self, text: str) -> None:
            data = text.encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

    return Handler


def _headers(handler: BaseHTTPRequestHandler) -> dict[str, str]:
    return {k.lower(): v for k, v in handler.headers.items()}


def _envelope(model: str, obj: str) -> dict:
    return {"id": "chatcmpl-test", "object": obj, "created": int(time.time()), "model": model,
            "system_fingerprint": None}


def _completion(reply: Reply, model: str) -> dict:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    if reply.tool_calls:
        message["tool_calls"] = [{"id": f"call_{i}", "type": "function",
                                  "function": {"name": name, "arguments": args}}
                                 for i, (name, args) in enumerate(reply.tool_calls)]
    finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
    return {**_envelope(model, "chat.completion"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish,
                         "logprobs": None}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}}


def _pieces(text: str, size: int) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), max(1, size))]


def _stream_chunks(reply: Reply, model: str, body: dict) -> list[dict]:
    """The chat.completion.chunk objects for a reply: role, deltas, finish, optional usage."""
    env = _envelope(model, "chat.completion.chunk")

    def chunk(delta: dict, finish: str | None = None) -> dict:
        return {**env, "choices": [{"index": 0, "delta": delta, "finish_reason": finish,
                                    "logprobs": None}]}

    if reply.deltas is not None:
        out = [chunk(d) if d else {**env, "choices": []} for d in reply.deltas]
        return out + [chunk({}, reply.finish_reason)]
    out = [chunk({"role": "assistant", "content": ""})]
    for piece in _pieces(reply.content or "", reply.chunk_size):
        out.append(chunk({"content": piece}))
    for i, (name, args) in enumerate(reply.tool_calls):
        out.append(chunk({"tool_calls": [{"index": i, "id": f"call_{i}", "type": "function",
                                          "function": {"name": name, "arguments": ""}}]}))
        for piece in _pieces(args, reply.chunk_size):
            out.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}))
    out.append(chunk({}, reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")))
    if (body.get("stream_options") or {}).get("include_usage"):
        out.append({**env, "choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 10,
                                                    "total_tokens": 20}})
    return out
