"""What stands in front of Bolt in HTTP mode: bodies read with a size limit, the Slack signature
checked and the body's shape checked before anything parses it."""

from __future__ import annotations

import logging
from typing import Any, Callable

log = logging.getLogger("bot.slack")

EVENTS_PATH = "/slack/events"
MAX_BODY_BYTES = 1_000_000  # Slack's largest payloads (a 40,000-character message) are far smaller


class Guard:
    """ASGI middleware in front of Bolt. Every request to the events URL is read with a size
    limit (413 beyond it, never buffered whole), must carry a valid Slack signature (401) and
    must be a JSON object or a form whose `payload` is one (400). Bolt checks the signature
    too, but only after parsing the body: without this, an unsigned request with a broken or
    huge body reached its parser (a 500 and a logged traceback, or the whole body in memory)."""

    def __init__(self, app: Any, signing_secret: str):
        from slack_sdk.signature import SignatureVerifier

        self.app = app
        self.verifier = SignatureVerifier(signing_secret)

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or scope.get("path") != EVENTS_PATH:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_BODY_BYTES:
            await _reply(send, 413, "request body too large")
            return
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > MAX_BODY_BYTES:
                await _reply(send, 413, "request body too large")
                return
            if not message.get("more_body"):
                break
        if not self.verifier.is_valid(body, headers.get("x-slack-request-timestamp"),
                                      headers.get("x-slack-signature")):
            await _reply(send, 401, "invalid request")
            return
        if not _parsable(body, headers.get("content-type", "")):
            log.info("refused a signed request whose body Slack would not send")
            await _reply(send, 400, "malformed request body")
            return
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _parsable(body: bytes, content_type: str) -> bool:
    """A JSON object (events), or a form (commands) whose `payload`, if any, is a JSON object
    (interactivity): what Slack sends."""
    import json
    from urllib.parse import parse_qs

    try:
        text = body.decode("utf-8")
        if content_type.startswith("application/json"):
            obj = json.loads(text)
            return isinstance(obj, dict) and isinstance(obj.get("event", {}), dict)
        if content_type.startswith("application/x-www-form-urlencoded"):
            payload = parse_qs(text).get("payload")
            return payload is None or isinstance(json.loads(payload[0]), dict)
    except ValueError:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return False
    return False


async def _reply(send: Callable, status: int, error: str) -> None:
    import json

    data = json.dumps({"error": error}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})
