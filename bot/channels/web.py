"""The web chat channel: the page at ``/`` and its JSON API. History lives on the server.

A page starts a chat with ``POST /api/chat`` and gets an id and a secret; it sends the secret in the
``X-Chat-Secret`` header with every read and write, never in the URL, so access logs and a guessed or
leaked id open nothing. Only the secret's SHA-256 is stored (``WebChat``). A wrong secret, a missing
one and an unknown id get the same answer.

``POST /api/chat/{id}/upload`` takes one photo or PDF as the raw body (``X-Filename``: its name,
percent-encoded UTF-8), for an office that asked for materials; the file is read and kept only then
(services/attachments.py), otherwise it is answered like any picture the bot cannot read.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from bot.engine import Engine, Incoming, Reply
from bot.store import Store, WebChat
from bot.store import public_message as public
from bot.taxonomy import Kind
from services import attachments

CHANNEL = "web"
SECRET_HEADER = "X-Chat-Secret"
_CHAT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
#: Message ids are 64-bit; a larger ``after`` is a client error, not something to hand the database.
MAX_ID = 2**63 - 1

ChatSecret = Annotated[str | None, Header(alias=SECRET_HEADER)]
FILENAME_HEADER = "X-Filename"
Filename = Annotated[str | None, Header(alias=FILENAME_HEADER, max_length=1024)]


class WebMessageIn(BaseModel):
    text: str | None = Field(default=None, max_length=20_000)
    payload: str | None = Field(default=None, max_length=200)
    lang: str | None = Field(default=None, pattern="^(zh|en)$")
    kind: str = Field(default="text", max_length=16)


class WebChatStarted(BaseModel):
    """What the page keeps: the chat's id and its secret (shown this once; the server keeps a hash)."""

    id: str
    secret: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def open_chat(store: Store, chat_id: str, secret: str) -> None:
    """Keep a chat's id and its secret's hash. The page's chats get both at random (``start_chat``);
    the load benchmark picks its own ids."""
    with store.session() as session:
        session.add(WebChat(id=chat_id, secret_hash=_digest(secret)))
        session.commit()


def start_chat(store: Store) -> WebChatStarted:
    chat = WebChatStarted(id=secrets.token_urlsafe(16), secret=secrets.token_urlsafe(32))
    open_chat(store, chat.id, chat.secret)
    return chat


def opens(store: Store, chat_id: str, secret: str | None) -> bool:
    """Whether ``secret`` is the one issued for ``chat_id`` (chats from before secrets have none: never)."""
    if not secret or len(secret) > 128 or not _CHAT_ID.match(chat_id):
        return False
    with store.reader() as session:
        chat = session.get(WebChat, chat_id)
    # Hash even when there is no chat, so the answer takes as long either way.
    expected = chat.secret_hash if chat is not None else "0" * 64
    return hmac.compare_digest(expected, _digest(secret)) and chat is not None


def answer(reply: Reply) -> dict[str, Any]:
    """The citizen's message as stored and the replies to it."""
    stored = [public(reply.incoming)] if reply.incoming.id is not None else []
    # ``pending``: kept, and answered with the next fragment of a burst (the page polls for it).
    return {"messages": stored + [public(m) for m in reply.messages], "status": reply.status,
            "pending": reply.pending, "notices": reply.notices}


def router(engine: Engine) -> APIRouter:
    api = APIRouter(prefix="/api/chat", tags=["web chat"])
    store = engine.store

    def check(chat_id: str, secret: str | None) -> None:
        if not opens(store, chat_id, secret):
            raise HTTPException(status_code=403, detail=f"unknown chat or wrong {SECRET_HEADER}")

    @api.post("", status_code=201)
    def start() -> WebChatStarted:
        return start_chat(store)

    @api.post("/{chat_id}/messages")
    def post_message(chat_id: str, body: WebMessageIn, secret: ChatSecret = None) -> dict[str, Any]:
        check(chat_id, secret)
        reply = engine.handle(Incoming(channel=CHANNEL, user_id=chat_id, text=body.text or "",
                                       payload=body.payload, kind=body.kind, language=body.lang))
        return answer(reply)

    @api.post("/{chat_id}/upload")
    async def upload(chat_id: str, request: Request, secret: ChatSecret = None,
                     filename: Filename = None) -> Any:
        await run_in_threadpool(check, chat_id, secret)
        limit = engine.settings.attachment_max_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return JSONResponse({"detail": attachments.too_large(limit)}, status_code=413)
        incoming = Incoming(channel=CHANNEL, user_id=chat_id, kind=Kind.media, media="file")
        if await run_in_threadpool(engine.desk.awaits_materials, store, CHANNEL, chat_id):
            content = bytearray()
            async for chunk in request.stream():
                content += chunk
                if len(content) > limit:
                    return JSONResponse({"detail": attachments.too_large(limit)}, status_code=413)
            name = unquote(filename, errors="replace") if filename else None
            try:
                saved = await run_in_threadpool(attachments.receive, store, engine.settings.data_dir, CHANNEL,
                                                chat_id, bytes(content), name, limit)
            except attachments.AttachmentError as exc:
                return JSONResponse({"detail": str(exc)}, status_code=415)
            incoming.media, incoming.attachment_id = saved.kind, saved.id
        return answer(await run_in_threadpool(engine.handle, incoming))

    @api.get("/{chat_id}/messages")
    def get_messages(chat_id: str, secret: ChatSecret = None,
                     after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0) -> dict[str, Any]:
        check(chat_id, secret)
        messages, status = engine.history(CHANNEL, chat_id, after=after)
        return {"messages": [public(m) for m in messages], "status": status}

    return api
