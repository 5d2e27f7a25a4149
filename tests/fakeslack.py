"""A local stand-in for Slack, for tests: its Web API on 127.0.0.1 (records every call and
answers like Slack does), signed Events API requests, and a Socket Mode websocket server.

Only Slack's side of the wire is faked; the Bolt app, slack_sdk's clients and our code run for
real over HTTP and websockets.
"""

from __future__ import annotations

import itertools
import json
import queue
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode

from slack_sdk.signature import SignatureVerifier

BOT_TOKEN = "xoxb-1111-2222-testbottokenvalue"
APP_TOKEN = "xapp-1-A111-3333-testapptokenvalue"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SECRETS = (BOT_TOKEN, APP_TOKEN, SIGNING_SECRET)
BOT_USER = "UBOT"
BOT_ID = "BBOT"
TEAM = "T0001"


@dataclass
class Call:
    method: str  # Web API method ("chat.postMessage"), or "respond" for a response_url
    params: dict[str, Any]
    auth: str
    result: dict[str, Any] | None = None  # what the fake answered


class FakeSlack:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.failures: dict[str, list[str]] = {}  # method -> error codes to answer, in turn
        self.holds: dict[str, threading.Event] = {}  # method -> answered only once this is set
        self.ws_url = ""
        self._ts = itertools.count(1)
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.port = self.server.server_address[1]
        self.api_url = f"http://127.0.0.1:{self.port}/api/"
        self.response_url = f"http://127.0.0.1:{self.port}/respond/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail(self, method: str, *errors: str) -> None:
        """Answer the next calls to `method` with these errors (ok=false), one per call."""
        self.failures.setdefault(method, []).extend(errors)

    def hold(self, method: str) -> threading.Event:
        """Keep calls to `method` waiting until the returned event is set."""
        self.holds[method] = threading.Event()
        return self.holds[method]

    def to(self, method: str, **match: Any) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method
                    and all(c.params.get(k) == v for k, v in match.items())]

    def answer(self, method: str, params: dict[str, Any], auth: str) -> dict[str, Any]:
        if method in self.holds:
            self.holds[method].wait(timeout=120)
        with self._lock:
            call = Call(method, params, auth)
            self.calls.append(call)
            failures = self.failures.get(method)
            error = failures.pop(0) if failures else None
        call.result = self._result(method, params, auth, error)
        return call.result

    def _result(self, method: str, params: dict[str, Any], auth: str, error: str | None) -> dict[str, Any]:
        expected = APP_TOKEN if method == "apps.connections.open" else BOT_TOKEN
        if auth != f"Bearer {expected}":
            return {"ok": False, "error": "invalid_auth"}
        if error:
            return {"ok": False, "error": error}
        ts = f"1700000000.{next(self._ts):06d}"
        if method == "auth.test":
            return {"ok": True, "url": "https://fake.slack.test/", "team": "Fake", "user": "bot",
                    "team_id": TEAM, "user_id": BOT_USER, "bot_id": BOT_ID}
        if method == "chat.postMessage":
            return {"ok": True, "channel": params.get("channel"), "ts": ts,
                    "message": {"text": params.get("text"), "ts": ts}}
        if method == "chat.update":
            return {"ok": True, "channel": params.get("channel"), "ts": params.get("ts"),
                    "text": params.get("text")}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": ts}
        if method == "apps.connections.open":
            return {"ok": True, "url": self.ws_url}
        return {"ok": True}


def _handler(fake: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            if self.headers.get("Content-Type", "").startswith("application/json"):
                params = json.loads(raw or "{}")
            else:
                params = dict(parse_qsl(raw))
            if isinstance(params.get("blocks"), str):
                params["blocks"] = json.loads(params["blocks"])
            auth = self.headers.get("Authorization", "")
            if self.path.startswith("/api/"):
                body = fake.answer(self.path[len("/api/"):].split("?")[0], params, auth)
            else:  # a response_url
                with fake._lock:
                    fake.calls.append(Call("respond", params, auth))
                body = {"ok": True}
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


# -- what Slack sends -------------------------------------------------------------------------

def signed(body: str, content_type: str, timestamp: int | None = None,
           secret: str = SIGNING_SECRET, retry: int | None = None) -> dict[str, str]:
    """Headers exactly as Slack signs a request: v0=HMAC-SHA256(secret, 'v0:{ts}:{body}')."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts,
               "X-Slack-Signature": SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)}
    if retry is not None:
        headers["X-Slack-Retry-Num"] = str(retry)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    return headers


_event_ids = itertools.count(1)


def event_callback(event: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    return {"token": "legacy-verification-token", "team_id": TEAM, "api_app_id": "A0001",
            "event": event, "type": "event_callback",
            "event_id": event_id or f"Ev{next(_event_ids):08d}", "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}]}


def mention(text: str, channel: str = "C0001", ts: str = "1699999999.000100", user: str = "U0001",
            thread_ts: str | None = None) -> dict[str, Any]:
    event = {"type": "app_mention", "user": user, "text": f"<@{BOT_USER}> {text}", "ts": ts,
             "channel": channel, "event_ts": ts}
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def message(text: str, channel: str, ts: str, user: str = "U0001", channel_type: str = "channel",
            thread_ts: str | None = None, **extra: Any) -> dict[str, Any]:
    event = {"type": "message", "user": user, "text": text, "ts": ts, "channel": channel,
             "event_ts": ts, "channel_type": channel_type, **extra}
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def command(name: str, text: str, response_url: str, channel: str = "C0001",
            user: str = "U0001") -> dict[str, str]:
    return {"token": "legacy-verification-token", "team_id": TEAM, "team_domain": "fake",
            "channel_id": channel, "channel_name": "general", "user_id": user, "user_name": "ann",
            "command": name, "text": text, "api_app_id": "A0001", "response_url": response_url,
            "trigger_id": "1.2.3"}


def block_action(action_id: str, value: str, response_url: str, channel: str = "C0001",
                 user: str = "U0001", message_ts: str = "1700000000.000001") -> dict[str, Any]:
    return {"type": "block_actions", "team": {"id": TEAM}, "user": {"id": user, "name": "ann"},
            "api_app_id": "A0001", "token": "legacy-verification-token", "trigger_id": "1.2.3",
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel},
            "channel": {"id": channel, "name": "general"}, "response_url": response_url,
            "message": {"ts": message_ts, "text": "answer"},
            "actions": [{"type": "button", "action_id": action_id, "block_id": "feedback",
                         "value": value, "action_ts": str(time.time())}]}


def form(payload: dict[str, Any]) -> str:
    return urlencode(payload)


def interactive_form(payload: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(payload)})


# -- Socket Mode ------------------------------------------------------------------------------

class FakeSocketMode:
    """Slack's Socket Mode side: a websocket server that says hello, hands out envelopes and
    collects the acknowledgements (by envelope_id) the app sends back."""

    def __init__(self) -> None:
        from websockets.sync.server import serve

        self.acks: "queue.Queue[dict[str, Any]]" = queue.Queue()
        self.connected = threading.Event()
        self._outbox: "queue.Queue[str]" = queue.Queue()
        self.server = serve(self._session, "127.0.0.1", 0)
        self.url = f"ws://127.0.0.1:{self.server.socket.getsockname()[1]}/link/?ticket=t1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _session(self, ws: Any) -> None:
        ws.send(json.dumps({"type": "hello", "num_connections": 1,
                            "debug_info": {"host": "fake"}, "connection_info": {"app_id": "A0001"}}))
        self.connected.set()
        while True:
            try:
                ws.send(self._outbox.get(timeout=0.05))
            except queue.Empty:
                pass
            except Exception:
                return
            try:
                incoming = ws.recv(timeout=0.05)
            except TimeoutError:
                continue
            except Exception:
                return
            self.acks.put(json.loads(incoming))

    def send(self, envelope_id: str, kind: str, payload: dict[str, Any], retry: int = 0) -> None:
        self._outbox.put(json.dumps({"envelope_id": envelope_id, "type": kind, "payload": payload,
                                     "accepts_response_payload": kind != "events_api",
                                     "retry_attempt": retry, "retry_reason": ""}))

    def close(self) -> None:
        self.server.shutdown()
