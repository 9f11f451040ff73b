"""The web chat channel: the page at ``/`` and its JSON API. History lives on the server."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from bot.engine import Engine, Incoming
from bot.store import public_message as public

CHANNEL = "web"
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


class WebMessageIn(BaseModel):
    text: str | None = Field(default=None, max_length=20_000)
    payload: str | None = Field(default=None, max_length=200)
    lang: str | None = Field(default=None, pattern="^(zh|en)$")
    kind: str = Field(default="text", max_length=16)


def _check(client_id: str) -> None:
    if not _CLIENT_ID.match(client_id):
        raise HTTPException(status_code=400, detail="invalid client id")


def router(engine: Engine) -> APIRouter:
    api = APIRouter(prefix="/api/chat", tags=["web chat"])

    @api.post("/{client_id}/messages")
    def post_message(client_id: str, body: WebMessageIn) -> dict[str, Any]:
        _check(client_id)
        reply = engine.handle(Incoming(channel=CHANNEL, user_id=client_id, text=body.text or "",
                                       payload=body.payload, kind=body.kind, language=body.lang))
        stored = [public(reply.incoming)] if reply.incoming.id is not None else []
        # ``pending``: kept, and answered with the next fragment of a burst (the page polls for it).
        return {"messages": stored + [public(m) for m in reply.messages], "status": reply.status,
                "pending": reply.pending, "notices": reply.notices}

    @api.get("/{client_id}/messages")
    def get_messages(client_id: str, after: int = 0) -> dict[str, Any]:
        _check(client_id)
        messages, status = engine.history(CHANNEL, client_id, after=after)
        return {"messages": [public(m) for m in messages], "status": status}

    return api


async def too_large(request: Request) -> None:
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > 200_000:
        raise HTTPException(status_code=413, detail="message too large")
