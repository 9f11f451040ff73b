"""Applications from draft to result (issue 14): the front desk takes them, an office handles them, the
citizen is told every step.

An application is a draft while the citizen answers its form (services/forms.py). Submitted with
consent, it gets a reference number (受理编号), the office of its kind that serves the citizen's
district (the city file), a legal-aid pre-screen where it is one, and a time limit (the form's ``sla``).
The office then accepts it, asks for materials, schedules an appointment, transfers it, refuses it or
completes it; each step is an ``ApplicationEvent`` and, where the citizen should know, a message in the
conversation it came from, which the channels deliver like any other. Every application ends in one of
``RESULTS``. Functions take an open session and leave committing to the caller.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from bot.conversations import add_message
from bot.delivery import MAX_ATTEMPTS
from bot.store import (
    Application,
    ApplicationEvent,
    Booking,
    Citizen,
    Conversation,
    Lawyer,
    Message,
    ReferenceCounter,
    utcnow,
)
from services.forms import DEFAULT_FORMS, Form, load_forms, reference_number

#: What an application can be; the last four are final.
DRAFT, SUBMITTED, ACCEPTED, MATERIALS, SCHEDULED = "draft", "submitted", "accepted", "materials", "scheduled"
COMPLETED, REFUSED, WITHDRAWN, CANCELLED = "completed", "refused", "withdrawn", "cancelled"
OPEN = (SUBMITTED, ACCEPTED, MATERIALS, SCHEDULED)
FINAL = (COMPLETED, REFUSED, WITHDRAWN, CANCELLED)

STATUS_NAMES = {DRAFT: "填写中", SUBMITTED: "已提交，待受理", ACCEPTED: "已受理，办理中", MATERIALS: "待补充材料",
                SCHEDULED: "已预约", COMPLETED: "已办结", REFUSED: "不予受理", WITHDRAWN: "已撤回", CANCELLED: "未提交"}

#: How an application ends (one each): the office's results, and the citizen's.
RESULTS = {
    "granted": "准予法律援助，已指派承办人员",
    "agreement": "调解达成协议",
    "no_agreement": "调解未达成协议（可依法申请仲裁或起诉）",
    "done": "已办理完毕",
    "refused": "不予受理或不予援助",
    "withdrawn": "申请人撤回",
    "lapsed": "未按要求补充材料，视为撤回",
    "cancelled": "未提交（申请人取消）",
    "abandoned": "未提交（长期未填完）",
}
#: The results an office may complete with (refusing and the citizen's own endings are separate steps).
COMPLETION_RESULTS = ("granted", "agreement", "no_agreement", "done")

#: The five-level scale of government-service ratings (好差评), best first; 1–2 are flagged to the office.
RATINGS = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}
POOR_RATING = 2


class ApplicationError(ValueError):
    """A step that cannot be taken (wrong state, unknown office, bad input), said so staff understand it."""


@functools.cache
def forms(path: Path = DEFAULT_FORMS) -> dict[str, Form]:
    return load_forms(path)


def form_of(application: Application) -> Form:
    return forms()[application.form]


@dataclass(frozen=True)
class Office:
    """What the application needs of an office in the city file (services/city.py)."""

    id: str
    name: str
    phone: str


# ---- the citizen's side -----------------------------------------------------------------------------

def draft_of(session: Session, citizen_id: int) -> Application | None:
    return session.exec(select(Application).where(Application.citizen_id == citizen_id,
                                                  Application.status == DRAFT)).first()


def start_draft(session: Session, citizen_id: int, conversation_id: int, form: str) -> Application:
    """A new draft (the caller made sure the citizen has none: the database refuses a second)."""
    if form not in forms():
        raise ApplicationError(f"没有这个申请表：{form}")
    application = Application(form=form, citizen_id=citizen_id, conversation_id=conversation_id, status=DRAFT)
    session.add(application)
    session.flush()
    return application


def next_reference(session: Session, prefix: str, day: dt.date) -> str:
    """The day's next 受理编号 for a prefix: one atomic upsert, so two workers never get the same number."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(ReferenceCounter).values(prefix=prefix, day=f"{day:%Y%m%d}", last=1)
        .on_conflict_do_update(index_elements=["prefix", "day"], set_={"last": col(ReferenceCounter.last) + 1})
        .returning(col(ReferenceCounter.last))
    )
    sequence = session.execute(statement).scalar_one()
    return reference_number(prefix, day, int(sequence))


def submit(session: Session, application: Application, office: Office | None, screening: dict[str, Any] | None,
           now: dt.datetime | None = None) -> ApplicationEvent:
    """The citizen consented: give it a number, an office and a time limit."""
    if application.status != DRAFT:
        raise ApplicationError("这份申请已经提交过了")
    now = now or utcnow()
    form = form_of(application)
    application.reference = next_reference(session, form.prefix, now.astimezone().date())
    application.status = SUBMITTED
    application.submitted_at = application.updated_at = now
    application.office = office.id if office else None
    application.district = application.state.get("answers", {}).get("district")
    conversation = session.get(Conversation, application.conversation_id)
    if conversation is not None and application.district and conversation.district is None:
        conversation.district = application.district  # the reports' district filter
        session.add(conversation)
    application.screening = screening
    application.due_at = now + dt.timedelta(days=form.sla_days) if form.sla_days else None
    session.add(application)
    return record(session, application, "submitted", "citizen", public=False,
                  detail={"office": application.office})


def end_draft(session: Session, application: Application, result: str, now: dt.datetime | None = None) -> None:
    """A draft cancelled by the citizen or left unfinished: it ends without ever reaching an office."""
    application.status = CANCELLED
    application.result = result
    application.closed_at = application.updated_at = now or utcnow()
    application.state = {"form": application.form, "stage": "cancelled"}  # what was typed is not kept
    session.add(application)


def withdraw(session: Session, application: Application, citizen_id: int) -> ApplicationEvent:
    if application.citizen_id != citizen_id or application.status not in OPEN:
        raise ApplicationError("这份申请已经结束，不能撤回")
    _close(application, WITHDRAWN, "withdrawn")
    session.add(application)
    return record(session, application, "withdrawn", "citizen", public=False)


def rate(session: Session, application: Application, citizen_id: int, rating: int) -> ApplicationEvent:
    """The citizen's rating of a finished application (once; a second replaces the first)."""
    if application.citizen_id != citizen_id or application.status not in (COMPLETED, REFUSED):
        raise ApplicationError("只能评价已办结的申请")
    if rating not in RATINGS:
        raise ApplicationError("评价是1到5之间的一个等级")
    application.rating = rating
    session.add(application)
    return record(session, application, "rated", "citizen", public=False,
                  detail={"rating": rating, "poor": rating <= POOR_RATING})


def comment(session: Session, application: Application, text: str) -> None:
    application.rating_comment = text.strip()[:2000]
    session.add(application)
    record(session, application, "commented", "citizen", public=False,
           detail={"poor": (application.rating or 5) <= POOR_RATING})


def mine(session: Session, citizen_id: int, limit: int = 5) -> list[Application]:
    """The citizen's submitted applications, newest first."""
    return list(session.exec(
        select(Application).where(Application.citizen_id == citizen_id, col(Application.reference).is_not(None))
        .order_by(col(Application.id).desc()).limit(limit)
    ).all())


def by_reference(session: Session, reference: str, citizen_id: int | None = None) -> Application | None:
    """An application by its number; with ``citizen_id``, only if it is that citizen's (nobody reads
    another's progress by guessing a number)."""
    query = select(Application).where(Application.reference == reference.strip().upper())
    if citizen_id is not None:
        query = query.where(Application.citizen_id == citizen_id)
    return session.exec(query).first()


def timeline(session: Session, application: Application, public_only: bool = True) -> list[ApplicationEvent]:
    query = select(ApplicationEvent).where(ApplicationEvent.application_id == application.id)
    if public_only:
        query = query.where(col(ApplicationEvent.public).is_(True))
    return list(session.exec(query.order_by(col(ApplicationEvent.id))).all())


# ---- the office's side ----------------------------------------------------------------------------

#: Which statuses each office step may start from.
STEPS = {
    "accept": (SUBMITTED, MATERIALS),
    "ask_materials": (SUBMITTED, ACCEPTED, SCHEDULED),
    "schedule": (SUBMITTED, ACCEPTED, MATERIALS),
    "transfer": (SUBMITTED, ACCEPTED, MATERIALS),
    "refuse": OPEN,
    "lapse": (MATERIALS,),
    "complete": (ACCEPTED, SCHEDULED),
    "note": OPEN + FINAL,
}


def act(session: Session, application: Application, step: str, staff: Lawyer, *, text: str = "",
        checklist: list[str] | None = None, result: str | None = None, office: Office | None = None,
        when: str | None = None, now: dt.datetime | None = None) -> ApplicationEvent:
    """One office step; it tells the citizen (except a note) and returns the event.

    ``text``: the office's words to the citizen (required for refusing: the reason, 法律援助法 第四十三条
    wants it in writing for legal aid); ``checklist``: materials asked for; ``result``: one of
    ``COMPLETION_RESULTS``; ``office``: where a transfer goes; ``when``: an appointment's time, as shown."""
    if step not in STEPS:
        raise ApplicationError(f"没有这个操作：{step}")
    if application.status not in STEPS[step]:
        raise ApplicationError(f"申请现在是“{STATUS_NAMES.get(application.status, application.status)}”，不能{_STEP_NAMES[step]}")
    if staff.role == "office" and application.office != staff.office:
        raise ApplicationError("这份申请不属于您的机构")
    now = now or utcnow()
    text = text.strip()
    form = form_of(application)
    detail: dict[str, Any] = {}
    actor = f"staff:{staff.id}"
    if step == "note":
        if not text:
            raise ApplicationError("备注不能为空")
        return record(session, application, "note", actor, text=text, public=False)
    if step == "accept":
        application.status = ACCEPTED
        if form.sla_until == "accepted":
            application.due_at = None
        said = f"您的{form.title}（{application.reference}）已受理。" + (text or "办理机构会尽快与您联系。")
    elif step == "ask_materials":
        items = [c.strip() for c in checklist or [] if c.strip()]
        if not items:
            raise ApplicationError("请列出需要补充的材料")
        application.status = MATERIALS
        detail["checklist"] = items
        said = (f"您的{form.title}（{application.reference}）需要补充以下材料：\n"
                + "\n".join(f"{n}. {item}" for n, item in enumerate(items, 1))
                + ("\n" + text if text else "")
                + "\n可以直接在这里发送照片或文件，也可以带到办理窗口。")
    elif step == "schedule":
        if not when:
            raise ApplicationError("请填写预约的时间和地点")
        application.status = SCHEDULED
        detail["when"] = when
        said = f"您的{form.title}（{application.reference}）已安排：{when}。" + (text or "请按时带身份证件前往。")
    elif step == "transfer":
        if office is None:
            raise ApplicationError("请选择要转给的机构")
        if office.id == application.office:
            raise ApplicationError("申请已经在这个机构")
        detail = {"from": application.office, "to": office.id}
        application.office = office.id
        application.status = SUBMITTED
        application.due_at = now + dt.timedelta(days=form.sla_days) if form.sla_days else None
        application.escalated_at = None
        said = f"您的{form.title}（{application.reference}）已转交{office.name}办理（电话 {office.phone}）。" + text
    elif step == "refuse":
        if not text:
            raise ApplicationError("不予受理需要写明理由，会告知申请人")
        _close(application, REFUSED, "refused", now)
        said = f"很抱歉，您的{form.title}（{application.reference}）未获受理。理由：{text}\n如有疑问可拨打12348咨询。"
        if application.form == "legal_aid":  # the objection the Law gives an applicant refused aid
            said += "对不予法律援助的决定有异议的，可以向设立该法律援助机构的司法行政部门提出（法律援助法第四十九条）。"
    elif step == "lapse":
        _close(application, REFUSED, "lapsed", now)
        said = f"您的{form.title}（{application.reference}）因未按要求补充材料，视为撤回。需要时可以重新申请。"
    else:  # complete
        if result not in COMPLETION_RESULTS:
            raise ApplicationError("请选择办理结果：" + "、".join(RESULTS[r] for r in COMPLETION_RESULTS))
        _close(application, COMPLETED, result, now)
        detail["result"] = result
        said = f"您的{form.title}（{application.reference}）已办结：{RESULTS[result]}。" + text
    application.updated_at = now
    session.add(application)
    event = record(session, application, step, actor, text=said, detail=detail | ({"note": text} if text else {}))
    tell(session, application, event, buttons=rating_buttons(application) if application.status in (COMPLETED, REFUSED) else None)
    return event


_STEP_NAMES = {"accept": "受理", "ask_materials": "要求补充材料", "schedule": "预约", "transfer": "转办", "refuse": "不予受理",
               "lapse": "按撤回处理", "complete": "办结", "note": "备注"}


def _close(application: Application, status: str, result: str, now: dt.datetime | None = None) -> None:
    application.status = status
    application.result = result
    application.due_at = None
    application.closed_at = now or utcnow()


def record(session: Session, application: Application, kind: str, actor: str, *, text: str = "",
           public: bool = True, detail: dict[str, Any] | None = None) -> ApplicationEvent:
    assert application.id is not None
    event = ApplicationEvent(application_id=application.id, kind=kind, actor=actor, text=text, public=public,
                             detail=detail or {})
    session.add(event)
    session.flush()
    return event


def rating_buttons(application: Application) -> list[dict[str, str]]:
    return [{"label": label, "payload": f"/apprate:{application.id}:{value}"} for value, label in RATINGS.items()]


def tell(session: Session, application: Application, event: ApplicationEvent,
         buttons: list[dict[str, str]] | None = None) -> None:
    """Say an event to the citizen, in the conversation the application came from (the channels deliver
    it; WeChat only within its reply window, so ``catch_up`` says it again at the citizen's next message)."""
    conversation = session.get(Conversation, application.conversation_id)
    if conversation is None or not event.text:
        return
    progress = {"label": "查询进度", "payload": f"/progress:{application.reference}"}
    message = add_message(session, conversation, direction="out", sender="bot", text=event.text,
                          buttons=(buttons or []) + [progress],
                          decision={"application": application.reference, "event": event.kind})
    event.message_id = message.id
    session.add(event)


def catch_up(session: Session, citizen_id: int) -> list[ApplicationEvent]:
    """The citizen's application news a channel could not deliver (WeChat's window had closed): the events
    whose message failed for good, to say again now that the citizen wrote."""
    return list(session.exec(
        select(ApplicationEvent).join(Message, col(Message.id) == ApplicationEvent.message_id)
        .join(Application, col(Application.id) == ApplicationEvent.application_id)
        .where(Application.citizen_id == citizen_id, col(Message.delivered_at).is_(None),
               col(Message.delivery_attempts) >= MAX_ATTEMPTS)
        .order_by(col(ApplicationEvent.id))
    ).all())


# ---- timers -------------------------------------------------------------------------------------

def overdue(session: Session, now: dt.datetime | None = None) -> list[Application]:
    """Open applications past their time limit and not yet escalated."""
    return list(session.exec(
        select(Application).where(col(Application.status).in_(OPEN), col(Application.due_at).is_not(None),
                                  col(Application.due_at) < (now or utcnow()), col(Application.escalated_at).is_(None))
    ).all())


def escalate_overdue(session: Session, now: dt.datetime | None = None) -> int:
    """Mark overdue applications escalated (the console shows them first, to the office and to admins)."""
    now = now or utcnow()
    late = overdue(session, now)
    for application in late:
        application.escalated_at = now
        session.add(application)
        form = form_of(application)
        record(session, application, "escalated", "system", public=False,
               detail={"due_at": application.due_at.isoformat() if application.due_at else None, "basis": form.sla_basis})
    return len(late)


def stale_drafts(session: Session, before: dt.datetime) -> list[Application]:
    return list(session.exec(select(Application).where(Application.status == DRAFT,
                                                       col(Application.updated_at) < before)).all())


def erase_citizen(session: Session, citizen_id: int) -> None:
    """A citizen deleting their data: open applications are withdrawn, a draft ends, bookings are cancelled,
    and every answer they gave (names, ID numbers, what happened) and every text about it is cleared; the
    numbers, offices and results stay as counts. Call it before the citizen's messages are deleted."""
    for application in session.exec(select(Application).where(Application.citizen_id == citizen_id)).all():
        if application.status == DRAFT:
            end_draft(session, application, "cancelled")
        elif application.status in OPEN:
            _close(application, WITHDRAWN, "withdrawn")
            record(session, application, "withdrawn", "citizen", public=False, detail={"erased": True})
        _forget(session, application)
    session.execute(update(Booking).where(col(Booking.citizen_id) == citizen_id, col(Booking.status) == "booked")
                    .values(status="cancelled"))


def _forget(session: Session, application: Application) -> None:
    application.state = {"form": application.form, "erased": True}
    application.rating_comment = None
    application.screening = None
    session.add(application)
    session.execute(update(ApplicationEvent).where(col(ApplicationEvent.application_id) == application.id)
                    .values(text="", message_id=None, detail={}))


def erase_closed(session: Session, cutoff: dt.datetime) -> int:
    """Retention: forget what citizens told applications that ended before ``cutoff``."""
    ended = session.exec(select(Application).where(
        col(Application.status).in_(FINAL), col(Application.closed_at) < cutoff,
        col(Application.state)["erased"].as_boolean().is_(None))).all()  # not yet erased
    for application in ended:
        _forget(session, application)
    return len(ended)


def citizen_of(session: Session, application: Application) -> Citizen | None:
    return session.get(Citizen, application.citizen_id)
