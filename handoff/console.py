"""The lawyer console's JSON API (the page itself is static): login, queue, claim, reply, resolve.

Every request that changes something must come from the console's own origin and carry the session's
CSRF token; logins are throttled per name and per client address (handoff/throttle.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, Field
from sqlmodel import select

from bot.settings import Settings
from bot.store import Lawyer, utcnow
from bot.store import public_message as public
from bot.taxonomy import CHAT_ROLES, Role
from handoff import canned, offices, stats, throttle, workbench
from handoff.auth import TELEGRAM_LINK_TTL, authenticate, issue_telegram_link, unlink_telegram
from handoff.queue import AlreadyClaimed, HandoffError, HandoffQueue, audit
from handoff.sessions import (
    COOKIE,
    CSRF_HEADER,
    Timeouts,
    csrf_matches,
    csrf_token,
    end_session,
    resolve_session,
    start_session,
)
from services.city import CityFile

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


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
    #: "The bot could have answered this": counted as a needless handoff in the reports.
    needless: bool = False
    tags: list[str] = Field(default_factory=list, max_length=len(workbench.OUTCOME_TAGS))


class LabelsIn(BaseModel):
    labels: list[str] = Field(max_length=50)


class ClassifyIn(BaseModel):
    service: str | None = Field(default=None, max_length=32)
    topic: str | None = Field(default=None, max_length=32)


class SnoozeIn(BaseModel):
    #: Minutes from now; None or 0 brings the chat back now.
    minutes: int | None = Field(default=None, ge=0, le=60 * 24 * 30)


def same_origin(request: Request) -> None:
    """Refuse a state-changing request that a browser says comes from another site's page."""
    if request.method in SAFE_METHODS:
        return
    origin = request.headers.get("origin")
    if origin is None:
        return  # not sent by every client; the CSRF token still guards everything but the login
    host = request.headers.get("host", "").lower()
    if not host or urlsplit(origin).netloc.lower() != host:
        raise HTTPException(status_code=403, detail="拒绝来自其他网站的请求")


def cookie_is_secure(request: Request, setting: str) -> bool:
    """``auto``: when the request came over https (as the trusted proxy, if any, says)."""
    return setting == "true" or (setting == "auto" and request.url.scheme == "https")


def _minutes_until(until: dt.datetime) -> int:
    return max(1, -(-int((until - utcnow()).total_seconds()) // 60))


def _locked(until: dt.datetime) -> HTTPException:
    minutes = _minutes_until(until)
    return HTTPException(status_code=429, detail=f"登录失败次数过多，已暂时锁定，请 {minutes} 分钟后再试",
                         headers={"Retry-After": str(minutes * 60)})


def router(queue: HandoffQueue, settings: Settings, telegram: bool = False) -> APIRouter:
    """``telegram``: the Telegram channel runs, so lawyers can link their account for lawyer mode."""
    api = APIRouter(prefix="/api/console", tags=["lawyer console"], dependencies=[Depends(same_origin)])
    store = queue.store
    timeouts = Timeouts(idle=dt.timedelta(minutes=settings.console_idle_minutes),
                        absolute=dt.timedelta(hours=settings.console_session_hours))
    window = dt.timedelta(minutes=settings.login_window_minutes)
    lockout = dt.timedelta(minutes=settings.login_lockout_minutes)
    per_account = throttle.Limit(settings.login_max_failures, window, lockout)
    per_address = throttle.Limit(settings.login_max_failures_per_address, window, lockout)
    city = CityFile(settings.city_file)

    def _me(lawyer: Lawyer, token: str) -> dict[str, Any]:
        return {"username": lawyer.username, "display_name": lawyer.display_name, "role": lawyer.role,
                "telegram": {"available": telegram and lawyer.role in CHAT_ROLES,
                             "linked": lawyer.telegram_user_id is not None},
                "office": lawyer.office, "office_name": city.office_name(lawyer.office),
                "csrf_token": csrf_token(token)}

    def current_lawyer(request: Request) -> Lawyer:
        token = request.cookies.get(COOKIE)
        lawyer = resolve_session(store, token, timeouts)
        if lawyer is None or token is None:
            raise HTTPException(status_code=401, detail="请先登录")
        if request.method not in SAFE_METHODS and not csrf_matches(token, request.headers.get(CSRF_HEADER)):
            raise HTTPException(status_code=403, detail="请求缺少有效的安全令牌（CSRF），请刷新页面后重试")
        queue.touch(lawyer)  # presence: a lawyer who stops polling goes offline and releases their chats
        return lawyer

    def on_duty(lawyer: Lawyer = Depends(current_lawyer)) -> Lawyer:
        """Lawyers and admins: office staff handle their office's applications and managers read the figures;
        neither reads citizens' chats."""
        if lawyer.role == Role.office:
            raise HTTPException(status_code=403, detail="办理机构账号只能处理本机构的申请")
        if lawyer.role not in CHAT_ROLES:
            raise HTTPException(status_code=403, detail="管理人员账号只能查看统计")
        return lawyer

    def admin(lawyer: Lawyer = Depends(current_lawyer)) -> Lawyer:
        if lawyer.role != "admin":
            raise HTTPException(status_code=403, detail="只有管理员可以查看")
        return lawyer

    def failed_login(username: str, locked: bool) -> None:
        """For admins reading the audit log: a wrong password for an account (or for a name no account has;
        the name itself is not kept), and whether it locked the name."""
        with store.session() as session:
            known = session.exec(select(Lawyer.id).where(Lawyer.username == username)).first()
            audit(session, known, "login_locked" if locked else "login_failed", known=known is not None)
            session.commit()

    @api.post("/login")
    def login(body: LoginIn, request: Request, response: Response) -> dict[str, Any]:
        account = throttle.Key("account", body.username, per_account)
        address = throttle.Key("address", request.client.host if request.client else "", per_address)
        try:
            throttle.admit(store, [account, address])
        except throttle.Throttled as exc:
            raise _locked(exc.until) from None
        lawyer = authenticate(store, body.username, body.password)
        if lawyer is None:
            until = throttle.failed(store, [account, address])
            failed_login(body.username, locked=until is not None)
            if until is not None:
                raise _locked(until)
            raise HTTPException(status_code=401, detail="用户名或密码错误")
        assert lawyer.id is not None
        throttle.succeeded(store, account, [address])
        end_session(store, request.cookies.get(COOKIE))  # whatever session this browser had, a new one now
        token = start_session(store, lawyer.id, timeouts, request.headers.get("user-agent"))
        response.set_cookie(COOKIE, token, max_age=int(timeouts.absolute.total_seconds()), path="/",
                            secure=cookie_is_secure(request, settings.cookie_secure), httponly=True, samesite="strict")
        queue.record(lawyer, "login")
        return _me(lawyer, token)

    @api.post("/logout")
    def logout(request: Request, response: Response) -> dict[str, bool]:
        token = request.cookies.get(COOKIE)
        if resolve_session(store, token, timeouts) is not None:
            assert token is not None
            if not csrf_matches(token, request.headers.get(CSRF_HEADER)):
                raise HTTPException(status_code=403, detail="请求缺少有效的安全令牌（CSRF），请刷新页面后重试")
            end_session(store, token)
        response.delete_cookie(COOKIE, path="/", secure=cookie_is_secure(request, settings.cookie_secure),
                               httponly=True, samesite="strict")
        return {"ok": True}

    @api.get("/me")
    def me(request: Request, lawyer: Lawyer = Depends(current_lawyer)) -> dict[str, Any]:
        return _me(lawyer, request.cookies[COOKIE])

    @api.post("/telegram/link")
    def telegram_link(lawyer: Lawyer = Depends(on_duty)) -> dict[str, Any]:
        """A one-time code the lawyer sends the bot on Telegram to link their account."""
        if not telegram:
            raise HTTPException(status_code=409, detail="本服务没有开通 Telegram")
        assert lawyer.id is not None
        code = issue_telegram_link(store, lawyer.id)
        minutes = int(TELEGRAM_LINK_TTL.total_seconds() // 60)
        return {"command": f"/link {code}", "expires_minutes": minutes}

    @api.post("/telegram/unlink")
    def telegram_unlink(lawyer: Lawyer = Depends(on_duty)) -> dict[str, Any]:
        assert lawyer.id is not None
        return {"unlinked": unlink_telegram(store, lawyer.id)}

    @api.get("/queue")
    def list_queue(status: str = "open", q: str = "", priority: str = "", service: str = "", topic: str = "",
                   language: str = "", channel: str = "", assignee: str = "", label: str = "", tag: str = "",
                   sort: str = "queue", limit: int = 200, lawyer: Lawyer = Depends(on_duty)) -> dict[str, Any]:
        """The queue, or any part of the history: searched (text, citizen, #number), filtered and sorted."""
        f = workbench.TicketFilter(status=status, q=q, priority=priority, service=service, topic=topic,
                                   language=language, channel=channel, assignee=assignee, label=label, tag=tag,
                                   sort=sort, limit=limit)
        try:
            views, total = queue.find(f, lawyer)
        except workbench.FilterError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        return {"tickets": [v.public() for v in views], "total": total}

    @api.post("/queue/claim-next")
    def claim_next(lawyer: Lawyer = Depends(on_duty)) -> dict[str, Any]:
        """The chat this lawyer should take now, by the routing rules (urgent, language, specialty, oldest)."""
        view = queue.claim_next(lawyer)
        if view is None:
            raise HTTPException(status_code=404, detail="队列里没有等待认领的咨询")
        return view.public()

    @api.get("/workbench")
    def workbench_options(lawyer: Lawyer = Depends(on_duty)) -> dict[str, Any]:
        """What the filters and forms offer: outcome tags and the labels in use."""
        with store.session() as session:
            labels = workbench.labels_in_use(session)
        return {"tags": workbench.OUTCOME_TAGS, "labels": labels, "min_summary": workbench.MIN_SUMMARY}

    @api.get("/mentions")
    def mentions(lawyer: Lawyer = Depends(on_duty)) -> dict[str, Any]:
        return {"mentions": queue.mentions(lawyer)}

    @api.get("/me/page")
    def my_page(days: int = 90, lawyer: Lawyer = Depends(on_duty)) -> dict[str, Any]:
        """The lawyer's own page: what they resolved and how citizens rated it."""
        with store.session() as session:
            return workbench.lawyer_page(session, lawyer, days=max(1, min(days, 366)))

    @api.get("/tickets/{ticket_id}")
    def ticket(ticket_id: int, lawyer: Lawyer = Depends(on_duty)) -> dict[str, Any]:
        try:
            view, messages = queue.view(ticket_id)
        except HandoffError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from None
        queue.viewed(ticket_id, lawyer)
        queue.read_mentions(lawyer, ticket_id)
        return {"ticket": view.public(), "packet": view.ticket.packet, "messages": [public(m) for m in messages]}

    @api.put("/tickets/{ticket_id}/labels")
    def set_labels(ticket_id: int, body: LabelsIn, lawyer: Lawyer = Depends(on_duty)) -> dict[str, Any]:
        try:
            return queue.set_labels(ticket_id, lawyer, body.labels).public()
        except HandoffError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None

    @api.post("/tickets/{ticket_id}/classify")
    def classify(ticket_id: int, body: ClassifyIn, lawyer: Lawyer = Depends(on_duty)) -> dict[str, Any]:
        try:
            return queue.reclassify(ticket_id, lawyer, body.service, body.topic).public()
        except HandoffError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None

    @api.post("/tickets/{ticket_id}/snooze")
    def snooze(ticket_id: int, body: SnoozeIn, lawyer: Lawyer = Depends(on_duty)) -> dict[str, Any]:
        until = utcnow() + dt.timedelta(minutes=body.minutes) if body.minutes else None
        try:
            return queue.snooze(ticket_id, lawyer, until).public()
        except HandoffError as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from None

    @api.post("/tickets/{ticket_id}/reopen")
    def reopen(ticket_id: int, lawyer: Lawyer = Depends(on_duty)) -> dict[str, Any]:
        try:
            return queue.reopen(ticket_id, lawyer).public()
        except HandoffError as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from None

    @api.post("/tickets/{ticket_id}/claim")
    def claim(ticket_id: int, lawyer: Lawyer = Depends(on_duty)) -> dict[str, Any]:
        try:
            return queue.claim(ticket_id, lawyer).public()
        except AlreadyClaimed as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from None
        except HandoffError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from None

    @api.post("/tickets/{ticket_id}/reply")
    def reply(ticket_id: int, body: ReplyIn, lawyer: Lawyer = Depends(on_duty)) -> dict[str, Any]:
        try:
            return public(queue.reply(ticket_id, lawyer, body.text))
        except HandoffError as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from None

    @api.post("/tickets/{ticket_id}/resolve")
    def resolve(ticket_id: int, body: ResolveIn, lawyer: Lawyer = Depends(on_duty)) -> dict[str, Any]:
        if len(body.summary.strip()) < workbench.MIN_SUMMARY:
            raise HTTPException(status_code=422, detail=workbench.SUMMARY_NEEDED)
        try:
            return queue.resolve(ticket_id, lawyer, body.outcome, body.summary, body.needless, body.tags).public()
        except HandoffError as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from None

    @api.get("/tickets/{ticket_id}/notes")
    def list_notes(ticket_id: int, lawyer: Lawyer = Depends(on_duty)) -> dict[str, Any]:
        return {"notes": [{"id": n.id, "text": n.text, "author": author, "created_at": n.created_at.isoformat()}
                          for n, author in queue.notes(ticket_id)]}

    @api.post("/tickets/{ticket_id}/notes")
    def add_note(ticket_id: int, body: NoteIn, lawyer: Lawyer = Depends(on_duty)) -> dict[str, Any]:
        try:
            note = queue.add_note(ticket_id, lawyer, body.text)
        except HandoffError as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from None
        return {"id": note.id, "text": note.text, "author": lawyer.display_name, "created_at": note.created_at.isoformat()}

    @api.post("/tickets/{ticket_id}/transfer")
    def transfer(ticket_id: int, body: TransferIn, lawyer: Lawyer = Depends(on_duty)) -> dict[str, Any]:
        try:
            return queue.transfer(ticket_id, lawyer, body.to).public()
        except HandoffError as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from None

    @api.get("/lawyers")
    def lawyers(lawyer: Lawyer = Depends(on_duty)) -> dict[str, Any]:
        return {"lawyers": queue.roster()}

    @api.get("/audit")
    def audit_log(limit: int = 200, lawyer: Lawyer = Depends(admin)) -> dict[str, Any]:
        return {"entries": [{"id": e.id, "lawyer": username, "action": e.action, "ticket_id": e.ticket_id,
                             "detail": e.detail, "created_at": e.created_at.isoformat()}
                            for e, username in queue.audit_log(limit=min(limit, 1000))]}

    api.include_router(offices.router(store, settings, current_lawyer, city))
    api.include_router(stats.router(store, settings, current_lawyer, city))
    api.include_router(canned.router(store, settings, on_duty))
    return api
