"""The back offices' inbox in the console (issue 14): the applications citizens submitted in the chat,
handled step by step by the office they went to (legal-aid centre, mediation committee, notary office …).

An office account (role ``office``) sees only its own office's applications, and never a citizen's chat:
what it needs is the form's answers, the pre-screen and the timeline. Admins see every office's and may
step in (an application no office of the city file took, an office that is away). Each step goes through
``services.applications.act``, which also tells the citizen; here it is checked, committed and audited.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy import case, func
from sqlmodel import Session, col, select

from bot.settings import Settings
from bot.store import Application, ApplicationEvent, Attachment, Booking, Lawyer, Store, lock_citizen, utcnow
from handoff.queue import audit
from services import applications as apps
from services import attachments
from services.city import CityFile

log = logging.getLogger(__name__)

#: What office staff are told for someone else's application: the same as for none at all.
NOT_FOUND = "没有这份申请"
OFFICE_ONLY = "办理机构账号只能处理本机构的申请"
LIST_LIMIT = 500

EVENT_NAMES = {"submitted": "提交申请", "accept": "受理", "ask_materials": "要求补充材料", "schedule": "预约",
               "transfer": "转办", "refuse": "不予受理", "lapse": "视为撤回", "complete": "办结", "note": "内部备注",
               "withdrawn": "申请人撤回", "rated": "申请人评价", "commented": "申请人留言", "escalated": "超过办理时限"}
ACTORS = {"citizen": "申请人", "bot": "智能助手", "system": "系统"}
SCREEN_RESULTS = {"likely": "可能符合条件", "unlikely": "可能不符合条件", "review": "需要中心审查"}


class StepIn(BaseModel):
    """One office step; which fields count depends on the step (services/applications.py ``act``)."""

    text: str = Field(default="", max_length=2000)
    checklist: list[Annotated[str, Field(max_length=200)]] = Field(default_factory=list, max_length=20)
    result: str | None = Field(default=None, max_length=32)
    office: str | None = Field(default=None, max_length=64)
    when: str | None = Field(default=None, max_length=200)


def router(store: Store, settings: Settings, current_lawyer: Callable[..., Lawyer],
           city: CityFile | None = None) -> APIRouter:
    """``current_lawyer``: the console's dependency for a logged-in account (session and CSRF checked);
    ``city``: the console's reader of the city file, if it has one."""
    api = APIRouter(prefix="/applications", tags=["office inbox"])
    city = city or CityFile(settings.city_file)

    def staff(lawyer: Lawyer = Depends(current_lawyer)) -> Lawyer:
        if lawyer.role == "office" and lawyer.office:
            return lawyer
        if lawyer.role == "admin":
            return lawyer
        raise HTTPException(status_code=403, detail="只有办理机构和管理员可以查看申请")

    def visible(session: Session, application_id: int, lawyer: Lawyer) -> Application:
        application = session.get(Application, application_id)
        if application is None or application.reference is None \
                or (lawyer.role == "office" and application.office != lawyer.office):
            raise HTTPException(status_code=404, detail=NOT_FOUND)
        return application

    def item(application: Application, latest: str | None, now: dt.datetime) -> dict[str, Any]:
        form = apps.forms().get(application.form)
        answers = application.state.get("answers", {}) if isinstance(application.state, dict) else {}
        rating = application.rating
        return {
            "id": application.id, "reference": application.reference, "form": application.form,
            "title": form.title if form else application.form,
            "status": application.status, "status_name": apps.STATUS_NAMES.get(application.status, application.status),
            "result": application.result, "result_name": apps.RESULTS.get(application.result or "", ""),
            "office": application.office, "office_name": city.office_name(application.office),
            "district": application.district,
            "submitted_at": _iso(application.submitted_at), "due_at": _iso(application.due_at),
            "closed_at": _iso(application.closed_at),
            "overdue": application.due_at is not None and _aware(application.due_at) < now,
            "escalated": application.escalated_at is not None,
            "rating": rating, "rating_name": apps.RATINGS.get(rating, "") if rating else "",
            "poor_rating": rating is not None and rating <= apps.POOR_RATING,
            "applicant": str(answers.get("name") or ""),
            "latest_event": latest, "latest_event_name": EVENT_NAMES.get(latest or "", latest or ""),
        }

    def latest_events(session: Session, ids: list[int]) -> dict[int, str]:
        if not ids:
            return {}
        last = (select(ApplicationEvent.application_id, func.max(ApplicationEvent.id).label("last"))
                .where(col(ApplicationEvent.application_id).in_(ids)).group_by(col(ApplicationEvent.application_id))
                .subquery())
        rows = session.exec(select(ApplicationEvent.application_id, ApplicationEvent.kind)
                            .join(last, col(ApplicationEvent.id) == last.c.last)).all()
        return {application_id: kind for application_id, kind in rows}

    def detail(session: Session, application: Application) -> dict[str, Any]:
        assert application.id is not None
        now = utcnow()
        events = apps.timeline(session, application, public_only=False)
        data = item(application, events[-1].kind if events else None, now)
        form = apps.forms().get(application.form)
        answers = application.state.get("answers", {}) if isinstance(application.state, dict) else {}
        data["answers"] = [{"name": f.name, "label": f.label, "value": _shown(answers[f.name])}
                           for f in (form.fields if form else ()) if answers.get(f.name) not in (None, "")]
        data["screening"] = _screening(application.screening)
        staff_ids = {int(e.actor.split(":", 1)[1]) for e in events if e.actor.startswith("staff:")
                     and e.actor.split(":", 1)[1].isdigit()}
        names = {p.id: p.display_name for p in session.exec(select(Lawyer).where(col(Lawyer.id).in_(staff_ids))).all()}
        data["timeline"] = [_event(e, names, city) for e in events]
        bookings = session.exec(select(Booking).where(Booking.application_id == application.id)
                                .order_by(col(Booking.day), col(Booking.time))).all()
        here = city.current()
        data["bookings"] = [{"id": b.id, "centre": b.centre,
                             "centre_name": (c.name if (c := here.centre(b.centre)) else b.centre) if here else b.centre,
                             "day": b.day, "time": b.time, "status": b.status} for b in bookings]
        data["attachments"] = [{"id": f.id, "filename": f.filename, "kind": f.kind, "size": f.size,
                                "created_at": f.created_at.isoformat(),
                                "url": f"/api/console/applications/{application.id}/attachments/{f.id}"}
                               for f in attachments.for_application(session, application.id)]
        data["sla_days"] = form.sla_days if form else None
        data["sla_basis"] = form.sla_basis if form else ""
        data["rating_comment"] = application.rating_comment
        data["steps"] = [s for s, allowed in apps.STEPS.items() if application.status in allowed]
        data["completion_results"] = [{"value": r, "label": apps.RESULTS[r]} for r in apps.COMPLETION_RESULTS]
        data["transfer_offices"] = [{"id": o.id, "name": o.name} for o in
                                    (here.offices_of(form.office) if here and form else ()) if o.id != application.office]
        return data

    @api.get("")
    def list_applications(status: Literal["open", "closed", "all"] = "open", office: str | None = None,
                          lawyer: Lawyer = Depends(staff)) -> dict[str, Any]:
        now = utcnow()
        query = select(Application).where(col(Application.reference).is_not(None))
        if status == "open":
            query = query.where(col(Application.status).in_(apps.OPEN))
        elif status == "closed":
            query = query.where(col(Application.status).in_(apps.FINAL))
        if lawyer.role == "office":
            if office and office != lawyer.office:
                raise HTTPException(status_code=403, detail=OFFICE_ONLY)
            office = lawyer.office
        if office:
            query = query.where(Application.office == office)
        late = case((col(Application.due_at) < now, 0), else_=1)
        undated = case((col(Application.due_at).is_(None), 1), else_=0)
        query = query.order_by(late, undated, col(Application.due_at), col(Application.id).desc()).limit(LIST_LIMIT)
        with store.reader() as session:
            found = list(session.exec(query).all())
            latest = latest_events(session, [a.id for a in found if a.id is not None])
            items = [item(a, latest.get(a.id or 0), now) for a in found]
        here = city.current()
        offices = [{"id": o.id, "name": o.name, "kind": o.kind} for o in here.offices] if here else []
        return {"applications": items, "offices": offices if lawyer.role == "admin" else
                [o for o in offices if o["id"] == lawyer.office]}

    @api.get("/{application_id}")
    def application(application_id: int, lawyer: Lawyer = Depends(staff)) -> dict[str, Any]:
        with store.reader() as session:
            return detail(session, visible(session, application_id, lawyer))

    @api.get("/{application_id}/attachments/{attachment_id}")
    def attachment(application_id: int, attachment_id: int, lawyer: Lawyer = Depends(staff)) -> FileResponse:
        """A photo or file the citizen sent for this application, to the office handling it (downloaded, never
        shown inline: its bytes come from a citizen)."""
        with store.session() as session:
            visible(session, application_id, lawyer)
            found = session.get(Attachment, attachment_id)
            if found is None or found.application_id != application_id:
                raise HTTPException(status_code=404, detail="没有这个文件")
            try:
                path = attachments.open_file(settings.data_dir, found)
            except (OSError, ValueError):
                raise HTTPException(status_code=404, detail="文件已不存在（可能已按保存期限删除）") from None
            audit(session, lawyer.id, "application_attachment_viewed", application=application_id,
                  attachment=attachment_id)
            session.commit()
        return FileResponse(path, media_type=found.content_type, filename=found.filename,
                            content_disposition_type="attachment")

    @api.post("/{application_id}/{step}")
    def take_step(application_id: int, step: str, body: StepIn, lawyer: Lawyer = Depends(staff)) -> dict[str, Any]:
        if step not in apps.STEPS:
            raise HTTPException(status_code=404, detail=f"没有这个操作：{step}")
        target = None
        if step == "transfer":
            target = transfer_target(body.office)
        with store.session() as session:
            citizen_id = session.exec(select(Application.citizen_id).where(Application.id == application_id)).first()
            if citizen_id is not None:
                lock_citizen(session, citizen_id)  # the citizen's own messages (withdrawing, rating) wait
            application = visible(session, application_id, lawyer)
            if target is not None and (form := apps.forms().get(application.form)) and target[1] != form.office:
                raise HTTPException(status_code=422, detail=f"{target[0].name}不办理{form.title}，请选择同类机构")
            try:
                event = apps.act(session, application, step, lawyer, text=body.text, checklist=body.checklist,
                                 result=body.result, office=target[0] if target else None, when=body.when)
            except apps.ApplicationError as exc:
                raise HTTPException(status_code=409, detail=str(exc)) from None
            facts: dict[str, Any] = {"application": application.id, "reference": application.reference}
            facts.update({k: v for k, v in event.detail.items() if k in ("from", "to", "result")})
            if step == "ask_materials":
                facts["items"] = len(event.detail.get("checklist", []))
            audit(session, lawyer.id, f"application_{step}", **facts)
            session.commit()
            return detail(session, application)

    def transfer_target(office_id: str | None) -> tuple[apps.Office, str]:
        """The office a transfer goes to, and its kind; 422 for one the city file does not have."""
        if not office_id:
            raise HTTPException(status_code=422, detail="请选择要转给的机构")
        here = city.current()
        if here is None:
            raise HTTPException(status_code=503, detail="城市配置文件暂时无法读取，不能转办，请联系管理员")
        office = here.office(office_id)
        if office is None:
            raise HTTPException(status_code=422, detail=f"城市配置文件里没有这个机构：{office_id}")
        return apps.Office(office.id, office.name, office.phone), office.kind

    return api


def _aware(moment: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes for what was stored as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _iso(moment: dt.datetime | None) -> str | None:
    return _aware(moment).isoformat() if moment else None


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return str(value)


def _screening(screening: dict[str, Any] | None) -> dict[str, Any] | None:
    if not screening:
        return None
    return {"result": screening.get("result"), "result_name": SCREEN_RESULTS.get(screening.get("result") or "", ""),
            "reasons": list(screening.get("reasons") or []), "materials": list(screening.get("materials") or []),
            "legal_basis": [b for b in screening.get("legal_basis") or [] if isinstance(b, dict)]}


def _event(event: ApplicationEvent, staff_names: dict[int | None, str], city: CityFile) -> dict[str, Any]:
    actor = event.actor
    if actor.startswith("staff:"):
        number = actor.split(":", 1)[1]
        name = staff_names.get(int(number) if number.isdigit() else None, "办理人员")
    else:
        name = ACTORS.get(actor, actor)
    shown = dict(event.detail or {})
    for key in ("from", "to", "office"):
        if isinstance(shown.get(key), str):
            shown[key + "_name"] = city.office_name(shown[key])
    if isinstance(shown.get("result"), str):
        shown["result_name"] = apps.RESULTS.get(shown["result"], shown["result"])
    return {"id": event.id, "kind": event.kind, "kind_name": EVENT_NAMES.get(event.kind, event.kind),
            "actor": actor, "actor_name": name, "text": event.text, "public": event.public,
            "told": event.message_id is not None, "detail": shown,
            "created_at": _iso(event.created_at)}
