"""A fake Telegram Bot API on 127.0.0.1 for tests.

It speaks the Bot API's wire format (form-encoded parameters in, ``{"ok": ..., "result": ...}`` out), so
the tests drive python-telegram-bot's own ``Bot``, ``Updater`` and rate limiter against it. It records
every call, hands queued updates to ``getUpdates`` (long polling), and can be told to refuse the next
calls of a method, e.g. with a 429 and ``retry_after``. The ``*_update`` helpers build the updates
Telegram would send, for the webhook and for polling alike. Files put in with ``add_file`` are served
by ``getFile`` and the file download path (``/file/bot<token>/<file_path>``), which records each download.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from tests.fakes import serve_in_thread

TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghijk"
BOT_USER = {"id": 123456789, "is_bot": True, "first_name": "12348 助手", "username": "legalbot_test_bot",
            "can_join_groups": False, "can_read_all_group_messages": False, "supports_inline_queries": False}
#: Parameters python-telegram-bot sends JSON-encoded; everything else (text, callback data) is a string.
JSON_PARAMS = {"chat_id", "reply_markup", "allowed_updates", "offset", "limit", "timeout", "message_id",
               "max_connections", "drop_pending_updates", "show_alert", "cache_time"}
#: The longest a getUpdates call is held open here, whatever timeout the client asked for.
MAX_LONG_POLL = 1.0


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    status: int = 200

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass
class FakeTelegramAPI:
    token: str = TOKEN
    calls: list[Call] = field(default_factory=list)
    port: int = 0
    webhook_url: str = ""
    _updates: list[dict[str, Any]] = field(default_factory=list)
    _failures: dict[str, list[tuple[int, str, int | None]]] = field(default_factory=dict)
    _message_ids: Iterator[int] = field(default_factory=lambda: itertools.count(1000))
    _update_ids: Iterator[int] = field(default_factory=lambda: itertools.count(500_000))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    #: file_id -> the file's bytes (``add_file``); file_path -> file_id once getFile named it.
    files: dict[str, bytes] = field(default_factory=dict)
    _paths: dict[str, str] = field(default_factory=dict)
    #: The file paths downloaded, in order.
    downloads: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    def add_file(self, file_id: str, content: bytes) -> None:
        with self._lock:
            self.files[file_id] = content

    # ---- what the bot did ----------------------------------------------------------------------------

    def calls_to(self, method: str, ok_only: bool = True) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method and (c.ok or not ok_only)]

    def sent(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """The parameters of every accepted sendMessage, optionally for one chat."""
        return [c.params for c in self.calls_to("sendMessage")
                if chat_id is None or c.params.get("chat_id") == chat_id]

    def texts(self, chat_id: int | None = None) -> list[str]:
        return [str(p["text"]) for p in self.sent(chat_id)]

    def wait_for(self, method: str, count: int, timeout: float = 15.0) -> list[Call]:
        """Block until at least ``count`` accepted calls of ``method`` were made (from another thread)."""
        deadline = time.monotonic() + timeout
        while len(calls := self.calls_to(method)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} {method} calls within {timeout}s, got {len(calls)}")
            time.sleep(0.02)
        return calls

    # ---- scripted trouble ----------------------------------------------------------------------------

    def fail_next(self, method: str, times: int = 1, status: int = 429, retry_after: int | None = 1,
                  description: str = "") -> None:
        """Refuse the next ``times`` calls of ``method``: a 429 with ``retry_after`` unless told otherwise."""
        text = description or (f"Too Many Requests: retry after {retry_after}" if status == 429 else "Bad Request")
        with self._lock:
            self._failures.setdefault(method, []).extend([(status, text, retry_after)] * times)

    # ---- updates Telegram would send -----------------------------------------------------------------

    def push(self, update: dict[str, Any]) -> None:
        """Queue an update for getUpdates (polling)."""
        with self._lock:
            self._updates.append(update)

    def _update(self, body: dict[str, Any], update_id: int | None) -> dict[str, Any]:
        return {"update_id": next(self._update_ids) if update_id is None else update_id, **body}

    def _message(self, chat_id: int, language: str, **content: Any) -> dict[str, Any]:
        user = {"id": chat_id, "is_bot": False, "first_name": "测试", "language_code": language}
        return {"message_id": next(self._message_ids), "date": int(time.time()), "from": user,
                "chat": {"id": chat_id, "type": "private", "first_name": "测试"}, **content}

    def text_update(self, chat_id: int, text: str, update_id: int | None = None,
                    language: str = "zh-hans", reply_to: str | None = None) -> dict[str, Any]:
        """``reply_to``: the text of a message the bot sent, which this one answers with Telegram's reply."""
        content: dict[str, Any] = {"text": text}
        if reply_to is not None:
            content["reply_to_message"] = {"message_id": next(self._message_ids), "date": int(time.time()),
                                           "from": BOT_USER, "chat": {"id": chat_id, "type": "private"},
                                           "text": reply_to}
        if text.startswith("/"):
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return self._update({"message": self._message(chat_id, language, **content)}, update_id)

    def callback_update(self, chat_id: int, data: str, update_id: int | None = None) -> dict[str, Any]:
        shown = self._message(chat_id, "zh-hans", text="（带按钮的消息）")
        shown["from"] = BOT_USER
        query = {"id": f"cbq-{next(self._message_ids)}", "chat_instance": f"ci-{chat_id}", "data": data,
                 "from": {"id": chat_id, "is_bot": False, "first_name": "测试", "language_code": "zh-hans"},
                 "message": shown}
        return self._update({"callback_query": query}, update_id)

    def group_callback_update(self, group_id: int, user_id: int, data: str, message_id: int = 1,
                              update_id: int | None = None) -> dict[str, Any]:
        """A press, by ``user_id``, of a button on the bot's message ``message_id`` in a group."""
        shown = {"message_id": message_id, "date": int(time.time()), "from": BOT_USER,
                 "chat": {"id": group_id, "type": "supergroup", "title": "值班律师群"}, "text": "（带按钮的消息）"}
        query = {"id": f"cbq-{next(self._message_ids)}", "chat_instance": f"ci-{group_id}", "data": data,
                 "from": {"id": user_id, "is_bot": False, "first_name": f"律师{user_id}", "language_code": "zh-hans"},
                 "message": shown}
        return self._update({"callback_query": query}, update_id)

    def group_text_update(self, group_id: int, user_id: int, text: str, update_id: int | None = None) -> dict[str, Any]:
        user = {"id": user_id, "is_bot": False, "first_name": f"律师{user_id}", "language_code": "zh-hans"}
        message = {"message_id": next(self._message_ids), "date": int(time.time()), "from": user,
                   "chat": {"id": group_id, "type": "supergroup", "title": "值班律师群"}, "text": text}
        return self._update({"message": message}, update_id)

    def media_update(self, chat_id: int, kind: str, caption: str | None = None,
                     update_id: int | None = None, file_id: str | None = None, file_size: int | None = None,
                     file_name: str = "合同.pdf") -> dict[str, Any]:
        """A photo (a small and a large size; ``file_id`` names the large one), document, sticker …"""
        file: dict[str, Any] = {"file_id": file_id or f"file-{kind}", "file_unique_id": f"u-{kind}"}
        if file_size is not None:
            file["file_size"] = file_size
        thumb = {"file_id": f"thumb-{file['file_id']}", "file_unique_id": f"t-{kind}", "width": 90, "height": 90}
        kinds: dict[str, Any] = {
            "photo": [thumb, {**file, "width": 800, "height": 800}],
            "sticker": {**file, "type": "regular", "width": 512, "height": 512, "is_animated": False,
                        "is_video": False, "emoji": "👍"},
            "voice": {**file, "duration": 4, "mime_type": "audio/ogg"},
            "document": {**file, "file_name": file_name, "mime_type": "application/pdf"},
            "video": {**file, "width": 640, "height": 360, "duration": 5},
        }
        media = kinds[kind]
        content: dict[str, Any] = {kind: media}
        if caption is not None:
            content["caption"] = caption
        return self._update({"message": self._message(chat_id, "zh-hans", **content)}, update_id)

    def location_update(self, chat_id: int, latitude: float, longitude: float,
                        update_id: int | None = None) -> dict[str, Any]:
        location = {"latitude": latitude, "longitude": longitude}
        return self._update({"message": self._message(chat_id, "zh-hans", location=location)}, update_id)

    # ---- the server ----------------------------------------------------------------------------------

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/bot{token}/{method}")
        async def bot_api(token: str, method: str, request: Request) -> JSONResponse:
            params = _decode(await request.body(), request.headers.get("content-type", ""))
            if token != self.token:
                return self._answer(method, params, 401, {"ok": False, "error_code": 401,
                                                          "description": "Unauthorized"})
            with self._lock:
                failures = self._failures.get(method)
                failure = failures.pop(0) if failures else None
            if failure is not None:
                status, description, retry_after = failure
                body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
                if status == 429 and retry_after is not None:
                    body["parameters"] = {"retry_after": retry_after}
                return self._answer(method, params, status, body)
            refusal = _refusal(method, params)
            if refusal is not None:
                return self._answer(method, params, 400, {"ok": False, "error_code": 400, "description": refusal})
            if method == "getUpdates":
                return self._answer(method, params, 200, {"ok": True, "result": await self._long_poll(params)})
            if method == "getFile":
                return self._get_file(params)
            return self._answer(method, params, 200, {"ok": True, "result": self._result(method, params)})

        @app.get("/file/bot{token}/{file_path:path}")
        def file_download(token: str, file_path: str) -> Response:
            with self._lock:
                self.downloads.append(file_path)
                file_id = self._paths.get(file_path)
                content = self.files.get(file_id) if token == self.token and file_id else None
            if content is None:
                return JSONResponse({"ok": False, "error_code": 404, "description": "Not Found"}, status_code=404)
            return Response(content, media_type="application/octet-stream")

        return app

    def _get_file(self, params: dict[str, Any]) -> JSONResponse:
        file_id = str(params.get("file_id", ""))
        with self._lock:
            content = self.files.get(file_id)
            path = f"documents/file_{len(self._paths)}"
            if content is not None:
                self._paths[path] = file_id
        if content is None:
            return self._answer("getFile", params, 400, {"ok": False, "error_code": 400,
                                                         "description": "Bad Request: invalid file_id"})
        result = {"file_id": file_id, "file_unique_id": f"u-{file_id}", "file_size": len(content), "file_path": path}
        return self._answer("getFile", params, 200, {"ok": True, "result": result})

    def _answer(self, method: str, params: dict[str, Any], status: int, body: dict[str, Any]) -> JSONResponse:
        with self._lock:
            self.calls.append(Call(method, params, status))
        return JSONResponse(body, status_code=status)

    def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return BOT_USER
        if method == "sendMessage":
            chat_id = params.get("chat_id")
            chat_type = "supergroup" if isinstance(chat_id, int) and chat_id < 0 else "private"
            message = {"message_id": next(self._message_ids), "date": int(time.time()), "from": BOT_USER,
                       "chat": {"id": chat_id, "type": chat_type}, "text": params["text"]}
            if isinstance(params.get("reply_markup"), dict) and "inline_keyboard" in params["reply_markup"]:
                message["reply_markup"] = params["reply_markup"]  # a Message carries only an inline keyboard
            return message
        if method == "editMessageText":
            message = {"message_id": params.get("message_id"), "date": int(time.time()), "from": BOT_USER,
                       "chat": {"id": params.get("chat_id"), "type": "supergroup"}, "text": params["text"]}
            if isinstance(params.get("reply_markup"), dict):
                message["reply_markup"] = params["reply_markup"]
            return message
        if method == "setWebhook":
            self.webhook_url = str(params.get("url", ""))
        if method == "deleteWebhook":
            self.webhook_url = ""
        if method == "getWebhookInfo":
            return {"url": self.webhook_url, "has_custom_certificate": False, "pending_update_count": 0}
        return True

    async def _long_poll(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        wait = min(float(params.get("timeout") or 0), MAX_LONG_POLL)
        deadline = time.monotonic() + wait
        while True:
            with self._lock:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]  # confirmed ones go
                ready = list(self._updates)
            if ready or time.monotonic() >= deadline:
                return ready
            await asyncio.sleep(0.02)


def _refusal(method: str, params: dict[str, Any]) -> str | None:
    """What the real Bot API says to a sendMessage it will not take."""
    if method not in ("sendMessage", "editMessageText"):
        return None
    text = str(params.get("text", ""))
    if not text.strip():
        return "Bad Request: message text is empty"
    if len(text) > 4096:
        return "Bad Request: message is too long"
    markup = params.get("reply_markup")
    rows = markup.get("inline_keyboard", []) if isinstance(markup, dict) else []
    if any(len(str(b.get("callback_data", "")).encode()) > 64 for row in rows for b in row):
        return "Bad Request: BUTTON_DATA_INVALID"
    return None


def _decode(body: bytes, content_type: str) -> dict[str, Any]:
    if "json" in content_type:
        data = json.loads(body or b"{}")
        return data if isinstance(data, dict) else {}
    params: dict[str, Any] = {}
    for key, value in parse_qsl(body.decode(), keep_blank_values=True):
        if key in JSON_PARAMS:
            try:
                params[key] = json.loads(value)
                continue
            except ValueError:
                pass
        params[key] = value
    return params


@contextmanager
def running(api: FakeTelegramAPI) -> Iterator[FakeTelegramAPI]:
    """Serve ``api`` on a free loopback port in a background thread."""
    with serve_in_thread(api.app(), "Telegram Bot API") as port:
        api.port = port
        yield api
