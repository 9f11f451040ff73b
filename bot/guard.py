"""What every HTTP request passes before an endpoint sees it, and what every answer carries.

A pure ASGI middleware, so the body limit holds however the body arrives: a declared Content-Length
over the limit is refused up front, and a body sent chunked (no Content-Length) is counted as it
arrives and refused once it passes the limit, before it is all in memory. A JSON body is read whole
(it is small, or it is refused) and checked once here for what would otherwise surface deep inside a
handler as a 500: bytes that are not UTF-8, nesting deep enough to exhaust the recursion limit, and
``\\ud800``-style escapes that decode to lone surrogates, which are not characters and cannot be stored.
Whole numbers in the URL beyond 64 bits are refused too: no id or cursor is that large, and the
databases fail on them (SQLite overflows, PostgreSQL is out of range) in every endpoint's own way.

One path takes more than the 256 KB every other one gets: the web chat's file upload (a photo or PDF for an
application, up to the attachment limit), and only as a raw body, never as JSON.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.settings import Settings

#: The largest request body any endpoint accepts (webhooks set smaller limits of their own).
MAX_BODY = 256_000
#: A POST to the web chat's upload path may carry one file up to the attachment limit (the setting's default;
#: the endpoint checks the configured limit itself, so a lower setting holds too).
UPLOAD_PATH = re.compile(r"^/api/chat/[^/]{1,128}/upload$")
UPLOAD_MAX_BODY = int(Settings.model_fields["attachment_max_bytes"].default)
LARGER_BODIES: tuple[tuple[re.Pattern[str], int], ...] = ((UPLOAD_PATH, UPLOAD_MAX_BODY),)
#: JSON nested deeper than this is refused; real requests (a Telegram update included) stay under 10.
MAX_JSON_DEPTH = 64

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                               "script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
}

_SURROGATE = re.compile("[\ud800-\udfff]")
_INTEGER = re.compile(r"^[+-]?0*(\d+)$")
MAX_INT = 2**63 - 1


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once the body passes the limit. An HTTPException, so FastAPI's body parsing
    lets it through and the app answers it like any other 4xx."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"request body too large: the limit is {limit} bytes")


def is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def too_big(value: str) -> bool:
    """Whether ``value`` is a whole number outside the signed 64-bit range."""
    match = _INTEGER.match(value)
    if match is None:
        return False
    digits = match.group(1)
    return len(digits) > 19 or int(digits) > MAX_INT + value.startswith("-")


def url_problem(scope: Scope) -> str | None:
    path = scope.get("path", "")  # already percent-decoded
    query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    if any(too_big(part) for part in path.split("/")) or any(too_big(value) for _, value in query):
        return "a number in the URL is out of range (64-bit integers only)"
    return None


def json_problem(body: bytes, max_depth: int = MAX_JSON_DEPTH) -> tuple[int, str] | None:
    """Why this JSON body must be refused (status, message), or None. Syntax errors are left to the
    endpoint, which reports where they are."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return 400, "malformed JSON: the body is not valid UTF-8"
    try:
        data = json.loads(text)
    except RecursionError:
        return 400, f"malformed JSON: nested deeper than {max_depth} levels"
    except ValueError:
        return None
    check_strings = "\\u" in text  # lone surrogates can only come from \u escapes
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:  # iterative: the structure may be nearly as deep as the recursion limit
        value, depth = stack.pop()
        if isinstance(value, dict):
            items: Any = [*value.keys(), *value.values()]
        elif isinstance(value, list):
            items = value
        else:
            if check_strings and isinstance(value, str) and _SURROGATE.search(value):
                return 422, "invalid text: it contains a lone UTF-16 surrogate (an escape such as \\ud800 " \
                            "without its pair), which is not a character"
            continue
        if depth > max_depth:
            return 400, f"malformed JSON: nested deeper than {max_depth} levels"
        stack.extend((item, depth + 1) for item in items)
    return None


class RequestGuard:
    """Body limit, JSON sanity and security headers for every HTTP request of the wrapped app."""

    def __init__(self, app: ASGIApp, max_body: int = MAX_BODY,
                 larger: tuple[tuple[re.Pattern[str], int], ...] = LARGER_BODIES) -> None:
        self.app = app
        self.max_body = max_body
        #: (path, limit): POSTs of a raw (not JSON) body to these paths may be larger.
        self.larger = larger

    def limit_for(self, scope: Scope, content_type: str | None) -> int:
        if scope.get("method") == "POST" and not is_json(content_type):
            path = scope.get("path", "")
            for pattern, limit in self.larger:
                if pattern.match(path):
                    return limit
        return self.max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        async def refuse(status: int, detail: str) -> None:
            await JSONResponse({"detail": detail}, status_code=status)(scope, receive, send_with_headers)

        problem_in_url = url_problem(scope)
        if problem_in_url is not None:
            return await refuse(422, problem_in_url)
        headers = Headers(scope=scope)
        limit = self.limit_for(scope, headers.get("content-type"))
        declared = headers.get("content-length")
        if declared is not None and not declared.isdigit():
            return await refuse(400, "invalid Content-Length header")
        if declared is not None and int(declared) > limit:
            return await refuse(413, BodyTooLarge(limit).detail)

        if is_json(headers.get("content-type")):
            try:
                body = await self._read_all(receive)
            except BodyTooLarge as exc:
                return await refuse(413, exc.detail)
            problem = json_problem(body) if body else None
            if problem is not None:
                return await refuse(*problem)
            receive = _replay(body, receive)
        else:
            receive = self._counting(receive, limit)
        try:
            await self.app(scope, receive, send_with_headers)
        except BodyTooLarge as exc:  # raised where no exception handler answered it
            if started:
                raise
            await refuse(413, exc.detail)

    async def _read_all(self, receive: Receive) -> bytes:
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away; the endpoint will see an empty body
            body += message.get("body", b"")
            if len(body) > self.max_body:
                raise BodyTooLarge(self.max_body)
            if not message.get("more_body", False):
                break
        return bytes(body)

    def _counting(self, receive: Receive, limit: int) -> Receive:
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        return counted


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands over the body already read, then listens on (for the disconnect)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
