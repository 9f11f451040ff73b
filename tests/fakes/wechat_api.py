"""A fake WeChat API on 127.0.0.1 for tests: access tokens, customer-service messages and the images citizens
sent (``media/get``, served from ``add_media``; each download is recorded in ``calls``).

It speaks the real wire format, so the tests drive wechatpy's own client against it. It records every
call and can be told to refuse the next sends with an ``errcode`` (45015 window closed, 45047 quota
used, -1 system busy, 45009 rate limited) or an HTTP status, or to expire the current token.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from tests.fakes import serve_in_thread


@dataclass
class Call:
    path: str
    params: dict[str, str]
    body: dict[str, Any] | None = None


@dataclass
class FakeWeChatAPI:
    app_id: str = "wx0123456789abcdef"
    app_secret: str = "fake-app-secret"
    calls: list[Call] = field(default_factory=list)
    #: Accepted customer-service messages (the JSON WeChat received).
    sent: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0
    _failures: list[tuple[str, int, int, str]] = field(default_factory=list)  # (match, status, errcode, errmsg)
    _tokens: set[str] = field(default_factory=set)
    _expired: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    #: MediaId -> the image's bytes (``add_media``).
    media: dict[str, bytes] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/cgi-bin/"

    def add_media(self, media_id: str, content: bytes) -> None:
        with self._lock:
            self.media[media_id] = content

    @property
    def media_downloads(self) -> list[str]:
        """The MediaIds asked for, in order."""
        return [c.params.get("media_id", "") for c in self.calls if c.path == "/cgi-bin/media/get"]

    @property
    def token_fetches(self) -> int:
        return sum(1 for c in self.calls if c.path == "/cgi-bin/token")

    def fail_next(self, errcode: int, errmsg: str = "", times: int = 1, http_status: int = 200,
                  match: str = "") -> None:
        """Refuse the next ``times`` sends (only those whose text contains ``match``, if given)."""
        with self._lock:
            self._failures.extend([(match, http_status, errcode, errmsg or f"error {errcode}")] * times)

    def _failure_for(self, content: str) -> tuple[int, int, str] | None:
        for i, (match, status, errcode, errmsg) in enumerate(self._failures):
            if match in content:
                del self._failures[i]
                return status, errcode, errmsg
        return None

    def expire_tokens(self) -> None:
        with self._lock:
            self._expired |= self._tokens

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.sent.clear()
            self.media.clear()
            self._failures.clear()
            self._expired |= self._tokens

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/cgi-bin/token")
        def token(request: Request) -> JSONResponse:
            params = dict(request.query_params)
            self.calls.append(Call("/cgi-bin/token", params))
            if params.get("grant_type") != "client_credential":
                return JSONResponse({"errcode": 40002, "errmsg": "invalid grant_type"})
            if params.get("appid") != self.app_id or params.get("secret") != self.app_secret:
                return JSONResponse({"errcode": 40125, "errmsg": "invalid appsecret"})
            issued = secrets.token_urlsafe(24)
            with self._lock:
                self._tokens.add(issued)
            return JSONResponse({"access_token": issued, "expires_in": 7200})

        @app.post("/cgi-bin/message/custom/send")
        async def custom_send(request: Request) -> JSONResponse:
            params = dict(request.query_params)
            try:
                body = json.loads(await request.body())
            except ValueError:
                body = None
            self.calls.append(Call("/cgi-bin/message/custom/send", params, body))
            access_token = params.get("access_token", "")
            with self._lock:
                if access_token in self._expired:
                    return JSONResponse({"errcode": 42001, "errmsg": "access_token expired"})
                if access_token not in self._tokens:
                    return JSONResponse({"errcode": 40001, "errmsg": "invalid credential"})
                content = body.get("text", {}).get("content", "") if isinstance(body, dict) else ""
                failure = self._failure_for(str(content))
            if failure is not None:
                status, errcode, errmsg = failure
                return JSONResponse({"errcode": errcode, "errmsg": errmsg}, status_code=status)
            if not isinstance(body, dict) or body.get("msgtype") != "text" or not body.get("touser"):
                return JSONResponse({"errcode": 44002, "errmsg": "empty post data"})
            if len(body["text"]["content"].encode()) > 2048:
                return JSONResponse({"errcode": 45002, "errmsg": "content size out of limit"})
            self.sent.append(body)
            return JSONResponse({"errcode": 0, "errmsg": "ok"})

        @app.get("/cgi-bin/media/get")
        def media_get(request: Request) -> Response:
            params = dict(request.query_params)
            self.calls.append(Call("/cgi-bin/media/get", params))
            access_token = params.get("access_token", "")
            with self._lock:
                if access_token in self._expired:
                    return JSONResponse({"errcode": 42001, "errmsg": "access_token expired"})
                if access_token not in self._tokens:
                    return JSONResponse({"errcode": 40001, "errmsg": "invalid credential"})
                content = self.media.get(params.get("media_id", ""))
            if content is None:
                return JSONResponse({"errcode": 40007, "errmsg": "invalid media_id"})
            return Response(content, media_type="image/jpeg",
                            headers={"Content-Disposition": 'attachment; filename="image.jpg"'})

        return app


@contextmanager
def running(api: FakeWeChatAPI) -> Iterator[FakeWeChatAPI]:
    """Serve ``api`` on a free loopback port in a background thread."""
    with serve_in_thread(api.app(), "WeChat API") as port:
        api.port = port
        yield api
