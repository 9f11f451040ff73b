"""The front desk for applications, in the conversation (issue 14): the engine hands it what concerns a
citizen's applications and it answers through the engine's ``say``, the same on every channel.

- Starting: a menu item or button (``/apply:legal_aid``), a short typed request ("申请法律援助", "预约公证"),
  or the offer under an answer whose entry belongs to one of the bureau's services.
- Filling in: while a draft is fresh, the citizen's text goes to its form (services/forms.py), one question
  at a time; buttons carry ``/form:<label>``. A draft left longer than the idle timeout is not assumed: the
  citizen's message is answered as usual and the bot asks once whether to go on ("继续填写 / 放弃").
- Submitting: after the separate consent the application gets its number, office and time limit
  (services/applications.py), a legal-aid one its pre-screen, and the conversation the outcome ``referred``.
- Afterwards: "查询进度" shows the timeline, photos sent while materials are asked for reach the office, a
  finished application is rated on the five-level scale.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from sqlmodel import Session, col, select

from bot.settings import Settings
from bot.store import Application, Citizen, Conversation, Message, Store, utcnow
from bot.taxonomy import Outcome, Service
from services import applications as apps
from services import attachments
from services.city import City, CityError, CityFile
from services.forms import FormRun, Step
from services.legal_aid import ScreenError, load_standards, screen
from services.visits import BOOK, BOOKINGS, CENTRES, UNBOOK, Visits

log = logging.getLogger(__name__)

APPLY = "/apply:"
RESUME = "/apply_resume"
DROP = "/apply_drop"
FORM = "/form:"
SERVICES = "/services"
PROGRESS = "/progress"
RATE = "/apprate:"
COMMENT = "/appcomment:"

#: The form for each service the NLU and the knowledge base name.
SERVICE_FORMS = {
    Service.legal_aid: "legal_aid", Service.mediation: "mediation", Service.notarization: "notarization",
    Service.judicial_appraisal: "judicial_appraisal", Service.lawyer: "find_lawyer",
    Service.enterprise_complaint: "enterprise_complaint", Service.prison_visit: "prison_visit",
    Service.community_correction: "community_justice", Service.post_release_support: "community_justice",
    Service.drug_rehab: "community_justice",
}
FORM_SERVICES = {"legal_aid": Service.legal_aid, "mediation": Service.mediation, "notarization": Service.notarization,
                 "judicial_appraisal": Service.judicial_appraisal, "find_lawyer": Service.lawyer,
                 "enterprise_complaint": Service.enterprise_complaint, "prison_visit": Service.prison_visit,
                 "community_justice": Service.community_correction}
#: What citizens call each form in a short request ("我要申请法律援助", "预约公证").
_NAMES = {"法律援助": "legal_aid", "人民调解": "mediation", "调解": "mediation", "公证": "notarization",
          "司法鉴定": "judicial_appraisal", "鉴定": "judicial_appraisal", "推荐律师": "find_lawyer",
          "委托律师": "find_lawyer",
          "企业投诉": "enterprise_complaint", "涉企投诉": "enterprise_complaint", "远程会见": "prison_visit",
          "视频会见": "prison_visit", "会见": "prison_visit", "社区矫正": "community_justice",
          "安置帮教": "community_justice", "社区戒毒": "community_justice", "司法所": "community_justice"}
_REQUEST = re.compile(r"^(?:我)?(?:要|想|需要)?(?:申请|预约|办理?|找|联系)(" + "|".join(sorted(_NAMES, key=len, reverse=True))
                      + r")(?:申请|预约)?$")
_PROGRESS = re.compile(r"^(?:查询?|看看?)?(?:申请)?(?:进度|进展|办理情况|我的申请)\s*([A-Za-z]{2}-\d{8}-\d{4})?$")
_REFERENCE = re.compile(r"^[A-Za-z]{2}-\d{8}-\d{4}$")
_SERVICES = ("办事", "办事服务", "网上办事", "申请服务", "我要办事")
_BOOK = ("预约", "我要预约", "预约到中心", "预约中心", "到中心预约")
_BOOKINGS = ("我的预约", "取消预约", "改约", "查看预约")

#: The legal-aid form's answers as the pre-screen's matter slugs and circumstances (services/legal_aid.py).
LEGAL_AID_MATTERS = {"追讨工资或确认劳动关系": "labour_pay", "工伤赔偿": "work_injury", "交通事故赔偿": "traffic_injury",
                     "医疗损害赔偿": "medical_injury", "赡养费抚养费扶养费": "support_payments",
                     "国家赔偿": "state_compensation", "社会保险待遇或社会救助": "social_insurance_or_assistance",
                     "刑事辩护或代理": "criminal", "其他": "other"}
LEGAL_AID_CIRCUMSTANCES = {"遭受家庭暴力": "domestic_violence", "遭受虐待": "abuse", "遭受遗弃": "abandonment",
                           "见义勇为": "good_samaritan", "英雄烈士近亲属": "hero_martyr_relative",
                           "低保特困或优抚对象": "social_assistance", "进城务工人员讨薪或工伤": "migrant_worker",
                           "无固定生活来源的老年人未成年人残疾人": "no_income_minor_elderly_disabled"}
SCREEN_RESULTS = {"likely": "初步判断：符合法律援助条件的可能性较大（以法律援助中心审查为准）",
                  "unlikely": "初步判断：可能不符合法律援助条件（以法律援助中心审查为准）",
                  "review": "初步判断：需要法律援助中心进一步审查"}
#: When the NLU is this sure a question is about one of the bureau's services, its form is offered beside
#: the "您是想问" suggestions.
OFFER_CONFIDENCE = 0.5
#: A comment on a rating is awaited this long after the citizen offered to write one.
COMMENT_MINUTES = 30

Say = Callable[..., None]


def keyword(text: str) -> str | None:
    """The payload a short typed request stands for ("申请法律援助" → ``/apply:legal_aid``), or None."""
    typed = re.sub(r"[\s。．.!！?？~～]+", "", unicodedata.normalize("NFKC", text)).strip()
    if not typed or len(typed) > 24:
        return None
    if _REFERENCE.match(typed):
        return f"{PROGRESS}:{typed.upper()}"
    progress = _PROGRESS.match(typed)
    if progress:
        return f"{PROGRESS}:{progress.group(1).upper()}" if progress.group(1) else PROGRESS
    if typed in _SERVICES:
        return SERVICES
    if typed in _BOOK:
        return BOOK
    if typed in _BOOKINGS:
        return BOOKINGS
    request = _REQUEST.match(typed)
    return APPLY + _NAMES[request.group(1)] if request else None


def handles(payload: str) -> bool:
    return payload.startswith((APPLY, FORM, RATE, COMMENT, PROGRESS, BOOK, UNBOOK, CENTRES)) or \
        payload in (RESUME, DROP, SERVICES)


def pressed_label(payload: str) -> str | None:
    """What the transcript shows for a desk button."""
    if payload.startswith(FORM):
        return payload.removeprefix(FORM)
    if payload.startswith(APPLY):
        form = apps.forms().get(payload.removeprefix(APPLY))
        return f"申请：{form.title}" if form else None
    if payload.startswith(RATE):
        value = payload.rsplit(":", 1)[-1]
        return apps.RATINGS.get(int(value)) if value.isdigit() else None
    if payload.startswith(BOOK + ":"):
        return "预约：" + " ".join(payload.split(":")[1:])
    if payload.startswith(UNBOOK):
        return "取消预约"
    if payload.startswith(CENTRES + ":"):
        return "服务点：" + payload.split(":", 1)[1]
    if payload.startswith(PROGRESS + ":"):
        return "查询进度 " + payload.split(":", 1)[1]
    return {RESUME: "继续填写", DROP: "放弃申请", SERVICES: "办事服务", PROGRESS: "查询进度", BOOK: "预约到中心",
            BOOKINGS: "我的预约", CENTRES: "按区县找服务点"}.get(payload)


def _button(label: str, payload: str) -> dict[str, str]:
    return {"label": label, "payload": payload}


class Desk:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.city_file = CityFile(settings.city_file)
        self.visits = Visits(self.city)

    # ---- configuration, read again when the files change -------------------------------------------

    def city(self) -> City:
        """The city file as it is now; OSError or CityError when it cannot be used."""
        return self.city_file.get()

    def districts(self) -> tuple[str, ...]:
        try:
            return self.city().districts
        except (OSError, CityError):
            log.exception("cannot read the city file; asking for the district as free text")
            return ()

    def _run(self, application: Application) -> FormRun:
        # A copy: the row's JSON is stored again only when a new object is assigned to it.
        return FormRun(apps.form_of(application), copy.deepcopy(application.state) or None, self.districts(),
                       today=dt.date.today())

    # ---- what the engine asks --------------------------------------------------------------------

    def fresh_draft(self, session: Session, citizen: Citizen) -> Application | None:
        """The draft the citizen's next text answers: one touched within the idle timeout."""
        draft = apps.draft_of(session, citizen.id or 0)
        if draft is None:
            return None
        idle = dt.timedelta(minutes=self.settings.idle_timeout_bot_minutes)
        return draft if utcnow() - _aware(draft.updated_at) <= idle else None

    def text(self, session: Session, citizen: Citizen, conversation: Conversation, text: str, say: Say) -> bool:
        """Take a text meant for the desk (an answer to the open form, a comment on a rating); False if it
        is not for the desk."""
        draft = self.fresh_draft(session, citizen)
        if draft is not None:
            self._take(session, citizen, conversation, draft, text, say)
            return True
        rated = self._awaiting_comment(session, citizen)
        if rated is not None:
            apps.comment(session, rated, text)
            rated.state = {k: v for k, v in rated.state.items() if k != "awaiting_comment"}
            session.add(rated)
            say("谢谢您的评价，我们会转给办理机构。")
            return True
        return False

    def remind_draft(self, session: Session, citizen: Citizen, say: Say) -> None:
        """After answering a citizen who left a form unfinished: ask once whether to go on with it."""
        draft = apps.draft_of(session, citizen.id or 0)
        if draft is None or self.fresh_draft(session, citizen) is not None:
            return
        if draft.resume_asked_at is not None and _aware(draft.resume_asked_at) >= _aware(draft.updated_at):
            return
        draft.resume_asked_at = utcnow()
        session.add(draft)
        form = apps.form_of(draft)
        done = len(draft.state.get("answers", {}))
        say(f"您还有一份没填完的{form.title}（已填{done}/{len(form.fields)}项），要继续填写吗？",
            buttons=[_button("继续填写", RESUME), _button("放弃申请", DROP)],
            decision={"application": "resume_offer", "form": draft.form})

    def offer(self, service: str | None) -> dict[str, str] | None:
        """The button under an answer about one of the bureau's services: "要现在申请吗？"."""
        form = SERVICE_FORMS.get(Service(service)) if service and service in Service.__members__ else None
        if form is None:
            return None
        return _button(f"现在申请：{apps.forms()[form].title}", APPLY + form)

    @staticmethod
    def awaits_materials(store: Store, channel: str, user_id: str) -> bool:
        """Whether an office waits for this citizen's materials: only then does a channel download a file."""
        with store.reader() as session:
            return session.exec(
                select(Application.id).join(Citizen, col(Citizen.id) == Application.citizen_id)
                .where(Citizen.channel == channel, Citizen.channel_user_id == user_id,
                       Application.status == apps.MATERIALS).limit(1)
            ).first() is not None

    def material(self, session: Session, citizen: Citizen, message: Message, say: Say) -> bool:
        """A photo or file while an office waits for materials: it goes to that application, and the file
        the channel downloaded (services/attachments.py) with it."""
        waiting = session.exec(
            select(Application).where(Application.citizen_id == citizen.id, Application.status == apps.MATERIALS)
            .order_by(col(Application.id).desc())
        ).first()
        if waiting is None:
            return False
        what = (message.decision or {}).get("media", "file")
        detail: dict[str, Any] = {"message_id": message.id, "media": what}
        attachment_id = (message.decision or {}).get("attachment")
        if isinstance(attachment_id, int) and attachments.link(session, attachment_id, citizen.id or 0, waiting.id,
                                                               message.id) is not None:
            detail["attachment_id"] = attachment_id
        apps.record(session, waiting, "materials_received", "citizen", public=False, detail=detail)
        say(f"已收到，已转给办理机构（{waiting.reference}）。还有其他材料可以继续发送。",
            decision={"application": waiting.reference, "event": "materials_received"})
        return True

    def catch_up(self, session: Session, citizen: Citizen, say: Say) -> None:
        """Say again the news a channel could not deliver while its window was closed."""
        for event in apps.catch_up(session, citizen.id or 0):
            say("您的申请有新进展：\n" + event.text, decision={"application": "caught_up", "event": event.kind})
            event.message_id = None
            session.add(event)

    def payload(self, session: Session, citizen: Citizen, conversation: Conversation, payload: str, say: Say) -> None:
        if payload.startswith(APPLY):
            self._start(session, citizen, conversation, payload.removeprefix(APPLY), say)
        elif payload.startswith(FORM):
            draft = apps.draft_of(session, citizen.id or 0)
            if draft is None:
                say("这份申请已经结束了。需要时可以重新申请。", buttons=[_button("办事服务", SERVICES)])
            else:
                self._take(session, citizen, conversation, draft, payload.removeprefix(FORM), say)
        elif payload == RESUME:
            draft = apps.draft_of(session, citizen.id or 0)
            if draft is None:
                say("没有未填完的申请。", buttons=[_button("办事服务", SERVICES)])
            else:
                self._show(draft, self._ask_again(draft), say, prefix="好的，接着填。")
                self._touch(session, draft)
        elif payload == DROP:
            draft = apps.draft_of(session, citizen.id or 0)
            if draft is not None:
                apps.end_draft(session, draft, "cancelled")
            say("好的，这份申请已放弃，填写的内容已删除。需要时可以重新申请。")
        elif payload == SERVICES:
            say("可以在这里直接申请下面的服务，提交后会告诉您受理编号和办理进度：",
                buttons=[_button(form.title, APPLY + slug) for slug, form in apps.forms().items()]
                + [_button("查询进度", PROGRESS), _button("预约到中心", BOOK), _button("我的预约", BOOKINGS),
                   _button("按区县找服务点", CENTRES)])
        elif payload.startswith(PROGRESS):
            self._progress(session, citizen, payload.removeprefix(PROGRESS).lstrip(":"), say)
        elif payload.startswith(RATE):
            self._rate(session, citizen, payload.removeprefix(RATE), say)
        elif payload.startswith(COMMENT):
            self._offer_comment(session, citizen, payload.removeprefix(COMMENT), say)
        elif payload.startswith((CENTRES, BOOK, UNBOOK)):
            self.visits.payload(session, citizen, payload, say)

    # ---- forms ---------------------------------------------------------------------------------

    def _start(self, session: Session, citizen: Citizen, conversation: Conversation, form: str, say: Say) -> None:
        if form not in apps.forms():
            say("没有这项申请。可以选择下面的服务：", buttons=[_button("办事服务", SERVICES)])
            return
        draft = apps.draft_of(session, citizen.id or 0)
        if draft is not None and draft.form == form:
            self._show(draft, self._ask_again(draft), say, prefix="您已经在填这份申请了，接着填：")
            self._touch(session, draft)
            return
        if draft is not None:
            other = apps.form_of(draft).title
            say(f"您还有一份没填完的{other}。一次只能填一份：要继续那一份，还是放弃它？",
                buttons=[_button("继续填写", RESUME), _button("放弃申请", DROP)])
            return
        draft = apps.start_draft(session, citizen.id or 0, conversation.id or 0, form)
        run = self._run(draft)
        step = run.start()
        draft.state = run.state
        session.add(draft)
        title = run.form.title
        self._show(draft, step, say, prefix=f"开始填写{title}（共{len(run.form.fields)}项，随时可以说“取消”；"
                                           "填错了可以说“改一下电话”这样改）。\n")

    def _take(self, session: Session, citizen: Citizen, conversation: Conversation, draft: Application, text: str,
              say: Say) -> None:
        run = self._run(draft)
        step = run.take(text)
        draft.state = run.state
        self._touch(session, draft)
        if step.stage == "cancelled":
            apps.end_draft(session, draft, "cancelled")
            say(step.text, decision={"application": "cancelled", "form": draft.form})
        elif step.stage == "submitted":
            self._submit(session, conversation, draft, run, say)
        else:
            self._show(draft, step, say)

    def _ask_again(self, draft: Application) -> Step:
        return self._run(draft).again()

    def _show(self, draft: Application, step: Step, say: Say, prefix: str = "") -> None:
        say(prefix + step.text, buttons=[_button(label, FORM + label) for label in step.buttons],
            decision={"application": "form", "form": draft.form, "stage": step.stage,
                      "asking": draft.state.get("asking")})

    @staticmethod
    def _touch(session: Session, draft: Application) -> None:
        draft.updated_at = utcnow()
        session.add(draft)

    def _submit(self, session: Session, conversation: Conversation, draft: Application, run: FormRun, say: Say) -> None:
        form = run.form
        answers = run.answers
        office = None
        try:
            found = self.city().office_for(form.office, answers.get("district"))
            office = apps.Office(found.id, found.name, found.phone) if found else None
        except (OSError, CityError):
            log.exception("cannot read the city file; the application waits for an office to be assigned")
        screening = self._screen(draft.form, answers)
        event = apps.submit(session, draft, office, screening)
        draft.state = {**run.state, "answers": answers}
        session.add(draft)
        conversation.service = FORM_SERVICES[draft.form].value
        conversation.pending_outcome = Outcome.referred.value  # handed to an office with a number to follow
        session.add(conversation)
        lines = [f"已提交。受理编号：{draft.reference}", f"办理机构：{office.name}（电话 {office.phone}）" if office
                 else "办理机构：由公共法律服务中心分派"]
        if draft.due_at is not None:
            limit = draft.due_at.astimezone().date()
            verb = "作出决定" if form.sla_until == "decided" else "受理并联系您"
            lines.append(f"办理机构会在{limit.month}月{limit.day}日前{verb}（{form.sla_basis}）。")
        if screening is not None:
            lines.append(SCREEN_RESULTS[screening["result"]])
            lines += [f"· {reason}" for reason in screening["reasons"]]
            if screening["materials"]:
                lines.append("请准备这些材料：")
                lines += [f"{n}. {item}" for n, item in enumerate(screening["materials"], 1)]
        lines.append("每一步进展都会在这里告诉您；也可以随时说“查询进度”。")
        say("\n".join(lines), buttons=[_button("查询进度", f"{PROGRESS}:{draft.reference}")],
            decision={"application": draft.reference, "event": event.kind})

    def _screen(self, form: str, answers: dict[str, Any]) -> dict[str, Any] | None:
        if form != "legal_aid":
            return None
        circumstance = LEGAL_AID_CIRCUMSTANCES.get(str(answers.get("circumstance", "")))
        request = {"matter": LEGAL_AID_MATTERS.get(str(answers.get("matter")), "other"),
                   "district": answers.get("district") or None,
                   "household_size": answers.get("household_size"),
                   "household_monthly_income": answers.get("household_monthly_income"),
                   "circumstances": [circumstance] if circumstance else []}
        try:
            standards = load_standards(self.settings.legal_aid_standards_file, self.districts())
            return screen(request, standards).as_dict()
        except (OSError, ScreenError):
            log.exception("legal-aid pre-screen failed; the centre reviews the application without it")
            return None

    # ---- progress and ratings ---------------------------------------------------------------------

    def _progress(self, session: Session, citizen: Citizen, reference: str, say: Say) -> None:
        if reference:
            found = apps.by_reference(session, reference, citizen.id)
            if found is None:
                say(f"没有找到您名下编号为 {reference} 的申请。请核对编号，或说“查询进度”查看您的全部申请。")
                return
            say(self.timeline_text(session, found), buttons=self._after_buttons(found),
                decision={"application": found.reference, "event": "progress"})
            return
        mine = apps.mine(session, citizen.id or 0)
        if not mine:
            say("您还没有提交过申请。", buttons=[_button("办事服务", SERVICES)])
        elif len(mine) == 1:
            self._progress(session, citizen, mine[0].reference or "", say)
        else:
            say("您的申请（最近的在前），请选择一份查看进度：",
                buttons=[_button(f"{a.reference} {apps.form_of(a).title} · {apps.STATUS_NAMES[a.status]}",
                                 f"{PROGRESS}:{a.reference}") for a in mine])

    def timeline_text(self, session: Session, application: Application) -> str:
        form = apps.form_of(application)
        lines = [f"{application.reference} {form.title}", f"当前状态：{apps.STATUS_NAMES[application.status]}"]
        office = self._office(application.office)
        if office is not None:
            lines.append(f"办理机构：{office.name}（电话 {office.phone}）")
        if application.result:
            lines.append(f"结果：{apps.RESULTS.get(application.result, application.result)}")
        elif application.due_at is not None:
            limit = application.due_at.astimezone().date()
            lines.append(f"办理期限：{limit.month}月{limit.day}日（{form.sla_basis}）")
        shown = {"submitted": "已提交", "accept": "已受理", "ask_materials": "要求补充材料", "schedule": "已安排时间",
                 "transfer": "已转办", "refuse": "不予受理", "lapse": "视为撤回", "complete": "已办结",
                 "withdrawn": "已撤回", "materials_received": "收到您补充的材料"}
        for event in apps.timeline(session, application, public_only=False):
            if event.kind in shown:
                at = _aware(event.created_at).astimezone()
                lines.append(f"· {at:%m-%d %H:%M} {shown[event.kind]}")
        return "\n".join(lines)

    def _office(self, office_id: str | None) -> apps.Office | None:
        try:
            found = self.city().office(office_id) if office_id else None
        except (OSError, CityError):
            return None
        return apps.Office(found.id, found.name, found.phone) if found else None

    @staticmethod
    def _after_buttons(application: Application) -> list[dict[str, str]]:
        if application.status in (apps.COMPLETED, apps.REFUSED) and application.rating is None:
            return apps.rating_buttons(application)
        return []

    def _rate(self, session: Session, citizen: Citizen, value: str, say: Say) -> None:
        application_id, _, rating = value.partition(":")
        found = session.get(Application, int(application_id)) if application_id.isdigit() else None
        try:
            if found is None or not rating.isdigit() or int(rating) not in apps.RATINGS:
                raise apps.ApplicationError("评价无效")
            apps.rate(session, found, citizen.id or 0, int(rating))
        except apps.ApplicationError as exc:
            say(f"{exc}。")
            return
        poor = int(rating) <= apps.POOR_RATING
        say("感谢您的评价！" + ("很抱歉这次没让您满意，您的评价会转给办理机构。" if poor else ""),
            buttons=[_button("写几句评价", f"{COMMENT}{found.id}")],
            decision={"application": found.reference, "event": "rated"})

    def _offer_comment(self, session: Session, citizen: Citizen, value: str, say: Say) -> None:
        found = session.get(Application, int(value)) if value.isdigit() else None
        if found is None or found.citizen_id != citizen.id or found.rating is None:
            say("请先选择评价等级。")
            return
        found.state = {**found.state, "awaiting_comment": utcnow().isoformat()}
        session.add(found)
        say("请写下您的意见（直接发送即可）：")

    def _awaiting_comment(self, session: Session, citizen: Citizen) -> Application | None:
        since = utcnow() - dt.timedelta(minutes=COMMENT_MINUTES)
        for application in apps.mine(session, citizen.id or 0):
            asked = application.state.get("awaiting_comment")
            if asked and dt.datetime.fromisoformat(asked) >= since:
                return application
        return None


    # ---- timers (the housekeeping loop) ------------------------------------------------------------

    def housekeeping(self, store: Store, now: dt.datetime | None = None) -> dict[str, int]:
        """Overdue applications escalated, long-abandoned drafts ended, tomorrow's appointments reminded."""
        now = now or utcnow()
        done = {"escalated": 0, "abandoned": 0, "reminded": 0}
        with store.session() as session:
            done["escalated"] = apps.escalate_overdue(session, now)
            for draft in apps.stale_drafts(session, now - dt.timedelta(days=self.settings.application_draft_days)):
                apps.end_draft(session, draft, "abandoned", now)
                done["abandoned"] += 1
            session.commit()
        done["reminded"] = self.visits.remind(store, now)
        return done


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
