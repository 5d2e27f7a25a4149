"""A minimal scriptable OpenAI-compatible HTTP server on 127.0.0.1, for tests.

(The `llm` branch carries a fuller server at this same path with the same interface for what
is used here: `OpenAIServer`, `.base_url`, `.chat_handler`, `.queue_chat`, `.chat_requests`,
`Reply.text`, `Reply.error`. Keep that one when merging.)

    with OpenAIServer() as server:
        server.chat_handler = lambda body: Reply.text('{"notes": []}')
        settings = settings.with_(openai_base_url=server.base_url)

`POST /v1/chat/completions` answers with the next queued `Reply`, else `chat_handler(body)`,
else HTTP 500 (a forgotten script fails loudly). Plain JSON responses only (no streaming).
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


@dataclass
class Reply:
    content: str | None = None
    status: int = 200
    body: Any = None

    @classmethod
    def text(cls, content: str) -> "Reply":
        return cls(content=content)

    @classmethod
    def error(cls, status: int, message: str = "scripted error") -> "Reply":
        return cls(status=status, body={"error": {"message": message, "type": "scripted", "code": status}})


@dataclass
class Recorded:
    method: str
    path: str
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class OpenAIServer:
    def __init__(self, model: str = "test-model"):
        self.model = model
        self.requests: list[Recorded] = []
        self.chat_handler: Callable[[dict], Reply] | None = None
        self._chat: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    @property
    def chat_requests(self) -> list[dict]:
        return [r.body for r in self.requests if r.path.endswith("/chat/completions")]

    def queue_chat(self, *replies: Reply) -> None:
        with self._lock:
            self._chat.extend(replies)

    def start(self) -> "OpenAIServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "OpenAIServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _reply(self, body: dict) -> Reply | None:
        with self._lock:
            self.requests.append(Recorded("POST", "/v1/chat/completions", body))
            if self._chat:
                return self._chat.popleft()
        return self.chat_handler(body) if self.chat_handler else None


def _handler_for(server: OpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if not self.path.endswith("/chat/completions"):
                self._json(404, {"error": {"message": f"no route {self.path}"}})
                return
            reply = server._reply(body)
            if reply is None:
                self._json(500, {"error": {"message": "nothing scripted for this request"}})
            elif reply.status != 200:
                self._json(reply.status, reply.body)
            else:
                self._json(200, {
                    "id": "chatcmpl-test", "object": "chat.completion", "created": 0,
                    "model": server.model,
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": reply.content}}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                })

        def _json(self, status: int, obj: Any) -> None:
            data = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
