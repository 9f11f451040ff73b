"""The lawyer console's JSON API (the page itself is static): login, queue, claim, reply, resolve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from bot.store import Lawyer
from bot.store import public_message as public
from handoff.auth import TELEGRAM_LINK_TTL, authenticate, issue_telegram_link, unlink_telegram
from handoff.queue import AlreadyClaimed, HandoffError, HandoffQueue


class LoginIn(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=256)


class ReplyIn(BaseModel):
    text: str = Field(max_length=20_000)


class NoteIn(BaseModel):
    text: str = Field(max_length=4000)


class TransferIn(BaseModel):
    to: str | None = Field(default=None, max_length=64)


class ResolveIn(BaseModel):
    outcome: str = Field(max_length=32)
    summary: str = Field(default="", max_length=20_000)


def router(queue: HandoffQueue, telegram: bool = False) -> APIRouter:
    """``telegram``: the Telegram channel runs, so lawyers can link their account for lawyer mode."""
    api = APIRouter(prefix="/api/console", tags=["lawyer console"])
    store = queue.store

    def _me(lawyer: Lawyer) -> dict[str, Any]:
        return {"username": lawyer.username, "display_name": lawyer.display_name, "role": lawyer.role,
                "telegram": {"available": telegram, "linked": lawyer.telegram_user_id is not None}}

    def current_lawyer(request: Request) -> Lawyer:
        lawyer_id = request.session.get("lawyer_id")
        if lawyer_id is None:
            raise HTTPException(status_code=401, detail="请先登录")
        with store.session() as session:
            lawyer = session.get(Lawyer, lawyer_id)
        if lawyer is None or not lawyer.active:
            request.session.clear()
            raise HTTPException(status_code=401, detail="请先登录")
        queue.touch(lawyer)  # presence: a lawyer who stops polling goes offline and releases their chats
        return lawyer

    def admin(lawyer: Lawyer = Depends(current_lawyer)) -> Lawyer:
        if lawyer.role != "admin":
            raise HTTPException(status_code=403, detail="只有管理员可以查看")
        return lawyer

    @api.post("/login")
    def login(body: LoginIn, request: Request) -> dict[str, Any]:
        lawyer = authenticate(store, body.username, body.password)
        if lawyer is None:
            raise HTTPException(status_code=401, detail="用户名或密码错误")
        request.session.clear()
        request.session["lawyer_id"] = lawyer.id
        queue.record(lawyer, "login")
        return _me(lawyer)

    @api.post("/logout")
    def logout(request: Request) -> dict[str, bool]:
        request.session.clear()
        return {"ok": True}

    @api.get("/me")
    def me(lawyer: Lawyer = Depends(current_lawyer)) -> dict[str, Any]:
        return _me(lawyer)

    @api.post("/telegram/link")
    def telegram_link(lawyer: Lawyer = Depends(current_lawyer)) -> dict[str, Any]:
        """A one-time code the lawyer sends the bot on Telegram to link their account."""
        if not telegram:
            raise HTTPException(status_code=409, detail="本服务没有开通 Telegram")
        assert lawyer.id is not None
        code = issue_telegram_link(store, lawyer.id)
        minutes = int(TELEGRAM_LINK_TTL.total_seconds() // 60)
        return {"command": f"/link {code}", "expires_minutes": minutes}

    @api.post("/telegram/unlink")
    def telegram_unlink(lawyer: Lawyer = Depends(current_lawyer)) -> dict[str, Any]:
        assert lawyer.id is not None
        return {"unlinked": unlink_telegram(store, lawyer.id)}

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

    @api.get("/tickets/{ticket_id}/notes")
    def list_notes(ticket_id: int, lawyer: Lawyer = Depends(current_lawyer)) -> dict[str, Any]:
        return {"notes": [{"id": n.id, "text": n.text, "author": author, "created_at": n.created_at.isoformat()}
                          for n, author in queue.notes(ticket_id)]}

    @api.post("/tickets/{ticket_id}/notes")
    def add_note(ticket_id: int, body: NoteIn, lawyer: Lawyer = Depends(current_lawyer)) -> dict[str, Any]:
        try:
            note = queue.add_note(ticket_id, lawyer, body.text)
        except HandoffError as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from None
        return {"id": note.id, "text": note.text, "author": lawyer.display_name, "created_at": note.created_at.isoformat()}

    @api.post("/tickets/{ticket_id}/transfer")
    def transfer(ticket_id: int, body: TransferIn, lawyer: Lawyer = Depends(current_lawyer)) -> dict[str, Any]:
        try:
            return queue.transfer(ticket_id, lawyer, body.to).public()
        except HandoffError as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from None

    @api.get("/lawyers")
    def lawyers(lawyer: Lawyer = Depends(current_lawyer)) -> dict[str, Any]:
        return {"lawyers": queue.roster()}

    @api.get("/canned")
    def canned(lawyer: Lawyer = Depends(current_lawyer)) -> dict[str, Any]:
        return {"replies": canned_replies()}

    @api.get("/audit")
    def audit_log(limit: int = 200, lawyer: Lawyer = Depends(admin)) -> dict[str, Any]:
        return {"entries": [{"id": e.id, "lawyer": username, "action": e.action, "ticket_id": e.ticket_id,
                             "detail": e.detail, "created_at": e.created_at.isoformat()}
                            for e, username in queue.audit_log(limit=min(limit, 1000))]}

    return api


CANNED = Path(__file__).resolve().parent / "canned_replies.yml"


def canned_replies(path: Path = CANNED) -> list[dict[str, str]]:
    try:
        items = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    except (OSError, yaml.YAMLError):
        return []
    return [{"title": str(i["title"]), "text": str(i["text"])} for i in items if isinstance(i, dict) and "text" in i]
