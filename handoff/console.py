"""The lawyer console's JSON API (the page itself is static): login, queue, claim, reply, resolve."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from bot.channels.web import public
from bot.store import Lawyer
from handoff.auth import authenticate
from handoff.queue import AlreadyClaimed, HandoffError, HandoffQueue


class LoginIn(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=256)


class ReplyIn(BaseModel):
    text: str = Field(max_length=20_000)


class ResolveIn(BaseModel):
    outcome: str = Field(max_length=32)
    summary: str = Field(default="", max_length=20_000)


def _me(lawyer: Lawyer) -> dict[str, Any]:
    return {"username": lawyer.username, "display_name": lawyer.display_name, "role": lawyer.role}


def router(queue: HandoffQueue) -> APIRouter:
    api = APIRouter(prefix="/api/console", tags=["lawyer console"])
    store = queue.store

    def current_lawyer(request: Request) -> Lawyer:
        lawyer_id = request.session.get("lawyer_id")
        if lawyer_id is None:
            raise HTTPException(status_code=401, detail="请先登录")
        with store.session() as session:
            lawyer = session.get(Lawyer, lawyer_id)
        if lawyer is None or not lawyer.active:
            request.session.clear()
            raise HTTPException(status_code=401, detail="请先登录")
        return lawyer

    @api.post("/login")
    def login(body: LoginIn, request: Request) -> dict[str, Any]:
        lawyer = authenticate(store, body.username, body.password)
        if lawyer is None:
            raise HTTPException(status_code=401, detail="用户名或密码错误")
        request.session.clear()
        request.session["lawyer_id"] = lawyer.id
        return _me(lawyer)

    @api.post("/logout")
    def logout(request: Request) -> dict[str, bool]:
        request.session.clear()
        return {"ok": True}

    @api.get("/me")
    def me(lawyer: Lawyer = Depends(current_lawyer)) -> dict[str, Any]:
        return _me(lawyer)

    @api.get("/queue")
    def list_queue(lawyer: Lawyer = Depends(current_lawyer)) -> dict[str, Any]:
        return {"tickets": [v.public() for v in queue.tickets()]}

    @api.get("/tickets/{ticket_id}")
    def ticket(ticket_id: int, lawyer: Lawyer = Depends(current_lawyer)) -> dict[str, Any]:
        try:
            view, messages = queue.view(ticket_id)
        except HandoffError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from None
        return {"ticket": view.public(), "packet": view.ticket.packet, "messages": [public(m) for m in messages]}

    @api.post("/tickets/{ticket_id}/claim")
    def claim(ticket_id: int, lawyer: Lawyer = Depends(current_lawyer)) -> dict[str, Any]:
        try:
            return queue.claim(ticket_id, lawyer).public()
        except AlreadyClaimed as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from None
        except HandoffError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from None

    @api.post("/tickets/{ticket_id}/reply")
    def reply(ticket_id: int, body: ReplyIn, lawyer: Lawyer = Depends(current_lawyer)) -> dict[str, Any]:
        try:
            return public(queue.reply(ticket_id, lawyer, body.text))
        except HandoffError as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from None

    @api.post("/tickets/{ticket_id}/resolve")
    def resolve(ticket_id: int, body: ResolveIn, lawyer: Lawyer = Depends(current_lawyer)) -> dict[str, Any]:
        try:
            return queue.resolve(ticket_id, lawyer, body.outcome, body.summary).public()
        except HandoffError as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from None

    return api
