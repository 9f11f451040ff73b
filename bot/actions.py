"""What a citizen can ask for besides a question, the same on every channel: the menu, help, a lawyer,
the language, the privacy notice, deleting their data, the nearest service centre for a shared
location, and the services menu (法律咨询 … 我的咨询). Channels only report what was pressed, typed or
shared; the engine calls these.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import re
import secrets
import unicodedata
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from bot.conversations import close_conversation
from bot.redact import redact
from bot.replies import t
from bot.settings import get_settings
from bot.store import Citizen, Conversation, Feedback, HandoffTicket, Message, TicketNote, lock_citizen
from bot.taxonomy import Act, ConversationStatus, Kind, Outcome, Service, TicketStatus, Topic, display_name
from services import applications, attachments
from services.city import Level, load_city
from services.desk import APPLY, PROGRESS, SERVICES
from services.visits import CENTRES

log = logging.getLogger(__name__)

MENU = "/menu"
HELP = "/help"
LAWYER = "/lawyer"
PRIVACY = "/privacy"
LANGUAGE = "/language"
LANGUAGE_PREFIX = "/language:"
DELETE = "/delete_my_data"
DELETE_CONFIRM = "/delete_my_data:confirm"
DELETE_CANCEL = "/delete_my_data:cancel"
UNSUBSCRIBE = "/unsubscribe"
#: Answers to the safety question ("are you safe now?").
DANGER = "/danger"
SAFE = "/safe"

#: The services menu, the same entries in this order on every channel: the web page's 服务 menu, Telegram's
#: command menu, WeChat's custom menu (bot/channels/wechat/menu.py). Each is one payload, answered here.
CONSULT = "/consult"
LEGAL_AID = "/legal_aid"
MEDIATION = "/mediation"
NOTARY = "/notary"
GUIDE = "/guide"
MINE = "/mine"
SERVICES_MENU = (CONSULT, LEGAL_AID, MEDIATION, NOTARY, GUIDE, MINE)
#: Each entry's label (bot/replies.py) and, for the bureau's services, the service and its form.
MENU_LABELS = {CONSULT: "menu_consult", LEGAL_AID: "menu_legal_aid", MEDIATION: "menu_mediation",
               NOTARY: "menu_notary", GUIDE: "menu_guide", MINE: "menu_mine"}
MENU_SERVICES = {LEGAL_AID: (Service.legal_aid, "legal_aid"), MEDIATION: (Service.mediation, "mediation"),
                 NOTARY: (Service.notarization, "notarization")}

#: Slash commands (typed on any channel; Telegram's command menu sends them) and their payloads.
COMMANDS = {"start": MENU, "menu": MENU, "help": HELP, "lawyer": LAWYER, "privacy": PRIVACY,
            "language": LANGUAGE, "delete_my_data": DELETE,
            "consult": CONSULT, "legal_aid": LEGAL_AID, "mediation": MEDIATION, "notary": NOTARY,
            "guide": GUIDE, "mine": MINE}
#: Whole messages that mean a command on channels without a command menu (web chat, WeChat).
KEYWORDS = {"菜单": MENU, "menu": MENU, "帮助": HELP, "help": HELP, "隐私": PRIVACY, "隐私说明": PRIVACY,
            "privacy": PRIVACY, "删除我的数据": DELETE, "删除数据": DELETE, "delete my data": DELETE,
            "english": LANGUAGE_PREFIX + "en", "中文": LANGUAGE_PREFIX + "zh",
            "办事指南": GUIDE, "服务指南": GUIDE, "我的咨询": MINE, "咨询记录": MINE, "我的咨询记录": MINE,
            "my consultations": MINE}
_TRAILING = re.compile(r"[\s。．.!！?？~～]+$")


def command_payload(text: str) -> str | None:
    """The payload a typed command or keyword stands for, or None for an ordinary message."""
    typed = _TRAILING.sub("", unicodedata.normalize("NFKC", text).strip()).lower()
    if typed.startswith("/"):
        name = typed[1:].split(maxsplit=1)[0].split("@", 1)[0] if len(typed) > 1 else ""
        return COMMANDS.get(name, HELP)
    return KEYWORDS.get(typed)


_NOT_IN_DANGER = re.compile(r"(没有|没|不|并不)(在)?(危险|事)|not in danger|no danger")
_IN_DANGER = re.compile(r"危险|不安全|救命|救我|快来|报警|help|sos|danger|not safe|unsafe|🆘")
_SAFE = re.compile(r"安全|没事|还好|放心|\bsafe\b|\bfine\b|\bok(ay)?\b|^好的?$|^是的?$")
#: A typed answer to the safety question is short; anything longer is read as a new message.
SAFETY_ANSWER_CHARS = 20


def safety_answer(text: str) -> str | None:
    """DANGER or SAFE when a short typed reply answers "are you safe now?", else None."""
    typed = unicodedata.normalize("NFKC", text).strip().lower()
    if not typed or len(typed) > SAFETY_ANSWER_CHARS:
        return None
    if _NOT_IN_DANGER.search(typed):
        return SAFE
    if _IN_DANGER.search(typed):
        return DANGER
    if _SAFE.search(typed):
        return SAFE
    return None


def button(label: str, payload: str) -> dict[str, str]:
    return {"label": label, "payload": payload}


def help_reply(lang: str) -> tuple[str, list[dict[str, str]]]:
    return (t("help", lang, commands=t("help_keywords", lang)),
            [button(t("btn_menu", lang), MENU), button(t("btn_lawyer", lang), LAWYER),
             button("English" if lang == "zh" else "中文", LANGUAGE_PREFIX + ("en" if lang == "zh" else "zh"))])


def privacy_reply(lang: str) -> tuple[str, list[dict[str, str]]]:
    return t("privacy", lang), [button(t("btn_delete", lang), DELETE)]


def language_reply(lang: str) -> tuple[str, list[dict[str, str]]]:
    return t("choose_language", lang), [button("中文", LANGUAGE_PREFIX + "zh"), button("English", LANGUAGE_PREFIX + "en")]


def confirm_delete_reply(lang: str) -> tuple[str, list[dict[str, str]]]:
    return t("confirm_delete", lang), [button(t("btn_confirm_delete", lang), DELETE_CONFIRM),
                                       button(t("btn_keep", lang), DELETE_CANCEL)]


def set_language(session: Session, citizen: Citizen, payload: str) -> str:
    chosen = payload.removeprefix(LANGUAGE_PREFIX)
    if chosen in ("zh", "en"):
        citizen.language = chosen
        session.add(citizen)
    return t("language_set", citizen.language)


# ---- the services menu -------------------------------------------------------------------------------

#: The categories offered with 法律咨询 (and the greeting): the commonest topics.
COMMON_TOPICS = (Topic.labor, Topic.marriage_family, Topic.debt, Topic.property, Topic.traffic)
#: 我的咨询 lists this many consultations, newest first.
MINE_LIMIT = 10
#: The first words of a question shown in 我的咨询.
FIRST_WORDS = 18
_SMALL_TALK = {a.value for a in (Act.greet, Act.goodbye, Act.thanks, Act.affirm, Act.deny, Act.chitchat)}


def menu_buttons(lang: str) -> list[dict[str, str]]:
    """The six entries as buttons, in the menu's order."""
    return [button(t(MENU_LABELS[p], lang), p) for p in SERVICES_MENU]


def _apply_button(form: str, lang: str) -> dict[str, str] | None:
    found = applications.forms().get(form)
    return button(t("btn_apply", lang, title=found.title), APPLY + form) if found else None


def consult_reply(lang: str) -> tuple[str, list[dict[str, str]]]:
    """法律咨询: the citizen is asked for the question; what they write is classified as any question is."""
    return t("menu_consult_intro", lang), [
        *(button(display_name(topic, lang), f"/topic:{topic.value}") for topic in COMMON_TOPICS),
        button(t("btn_lawyer", lang), LAWYER)]


def service_reply(payload: str, lang: str, questions: list[dict[str, str]]) -> tuple[str, list[dict[str, str]]]:
    """法律援助, 人民调解, 公证: what the service is, its application form (services/forms.py) and the knowledge
    base's questions about it (``questions``, as buttons the engine made)."""
    service, form = MENU_SERVICES[payload]
    apply = _apply_button(form, lang)
    return t("menu_about_" + service.value, lang), [*([apply] if apply else []), *questions,
                                                     button(t("btn_lawyer", lang), LAWYER)]


def guide_reply(lang: str) -> tuple[str, list[dict[str, str]]]:
    """办事指南: what the bureau offers and how to start each, the forms of services/data/forms.yml included."""
    featured = {form for _, form in MENU_SERVICES.values()}
    others = "、".join(f.title for slug, f in applications.forms().items() if slug not in featured)
    return t("menu_guide_text", lang, others=others), [
        *(button(t(MENU_LABELS[p], lang), p) for p in (CONSULT, LEGAL_AID, MEDIATION, NOTARY)),
        button(t("btn_all_services", lang), SERVICES), button(t("btn_centres", lang), CENTRES),
        button(t(MENU_LABELS[MINE], lang), MINE)]


def _when(moment: dt.datetime, zone: ZoneInfo, lang: str, today: dt.date) -> str:
    day = (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).astimezone(zone).date()
    if lang == "en":
        return f"{day.day} {day:%b}" + ("" if day.year == today.year else f" {day.year}")
    return ("" if day.year == today.year else f"{day.year}年") + f"{day.month}月{day.day}日"


def _subject(conversation: Conversation, lang: str) -> str:
    """The consultation's area of law in words, else its service, else "other"."""
    topic, service = conversation.topic or "", conversation.service or ""
    if topic in Topic.__members__ and topic != Topic.other:
        return display_name(Topic(topic), lang)
    if service in Service.__members__ and service != Service.consultation:
        return display_name(Service(service), lang)
    return display_name(Topic.other, lang)


def _outcome(conversation: Conversation) -> str:
    """The key of the outcome in words (bot/replies.py), open conversations included."""
    if conversation.status == ConversationStatus.closed:
        return "mine_" + (conversation.outcome or Outcome.abandoned.value)
    if conversation.status in (ConversationStatus.waiting, ConversationStatus.with_lawyer):
        return "mine_" + conversation.status
    return "mine_" + (conversation.pending_outcome or "open")


def _is_question(message: Message) -> bool:
    """A question the citizen asked: a classified text that is not small talk, or a chosen FAQ question."""
    decision = message.decision or {}
    if message.kind == Kind.text:
        return "action" in decision and decision.get("act") not in _SMALL_TALK
    payload = str(decision.get("payload") or "")
    return payload.startswith("/faq:") and payload not in ("/faq:none", "/faq:more")


def _first_words(text: str) -> str:
    words = " ".join(redact(text).split())
    return words if len(words) <= FIRST_WORDS else words[:FIRST_WORDS] + "…"


def mine_reply(session: Session, citizen: Citizen, lang: str, timezone: str) -> tuple[str, list[dict[str, str]]]:
    """我的咨询: the citizen's own consultations (newest first, at most ``MINE_LIMIT``), each with its date,
    area of law, outcome in words and first words, then their applications with reference and status.
    Only this citizen's rows are read."""
    zone = ZoneInfo(timezone)
    today = dt.datetime.now(zone).date()
    conversations = session.exec(
        select(Conversation).where(Conversation.citizen_id == citizen.id)
        .order_by(col(Conversation.id).desc()).limit(MINE_LIMIT * 5)
    ).all()
    ids = [c.id for c in conversations if c.id is not None]
    questions: dict[int, str] = {}
    if ids:
        for message in session.exec(
            select(Message).where(col(Message.conversation_id).in_(ids), Message.citizen_id == citizen.id,
                                  Message.direction == "in", col(Message.kind).in_([Kind.text.value, Kind.button.value]))
            .order_by(col(Message.id))
        ):
            if message.conversation_id not in questions and _is_question(message):
                questions[message.conversation_id] = message.text
    lines = []
    for conversation in conversations:
        question = questions.get(conversation.id or 0)
        if question is None and conversation.handoff_reason is None:
            continue  # a greeting, a menu, a form: not a consultation
        lines.append(t("mine_line", lang, date=_when(conversation.opened_at, zone, lang, today),
                       subject=_subject(conversation, lang), outcome=t(_outcome(conversation), lang),
                       question=_first_words(question) if question else t("mine_no_question", lang)))
        if len(lines) == MINE_LIMIT:
            break
    mine = applications.mine(session, citizen.id or 0)
    if not lines and not mine:
        return t("mine_empty", lang), [button(t(MENU_LABELS[CONSULT], lang), CONSULT),
                                       button(t(MENU_LABELS[GUIDE], lang), GUIDE)]
    parts = [t("mine_title", lang) + "\n" + "\n".join(lines) if lines else t("mine_none_yet", lang)]
    buttons = [button(t(MENU_LABELS[CONSULT], lang), CONSULT)]
    if mine:
        parts.append(t("mine_applications", lang) + "\n" + "\n".join(
            t("mine_application", lang, reference=a.reference, title=applications.form_of(a).title,
              status=applications.STATUS_NAMES.get(a.status, a.status),
              date=_when(a.submitted_at or a.created_at, zone, lang, today)) for a in mine))
        buttons.insert(0, button(t("btn_progress", lang), PROGRESS))
    return "\n\n".join(parts), buttons


# ---- questions about the service itself, not the law ------------------------------------------------

_HOURS = re.compile(r"(几点|什么时候|啥时候|何时)(上班|下班|有人|开门|能找到律师|有律师)|(工作|上班|办公|服务)时间|"
                    r"working hours|opening hours|when (are you|is (the|a) lawyer) (open|available)")
_CENTRE = re.compile(r"(最近的?|附近的?|在哪|哪里有|地址|怎么走).{0,10}(法律服务中心|法律服务站|法律援助中心|司法所|公证处|服务中心)|"
                     r"(法律服务中心|法律服务站|法律援助中心|司法所|公证处).{0,8}(在哪|地址|怎么走|哪里)|"
                     r"(nearest|where is the) (public )?legal (service|aid) (centre|center|office)")


def front_desk(text: str) -> str | None:
    """"hours" or "centres" when a message asks about the service itself ("你们几点上班"), else None."""
    typed = unicodedata.normalize("NFKC", text).strip().lower()
    if len(typed) > 60:
        return None  # a story that mentions an office is a legal question
    if _CENTRE.search(typed):
        return "centres"
    if _HOURS.search(typed):
        return "hours"
    return None


_WEEKDAYS = {"zh": "一二三四五六日", "en": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]}


def days_text(service_days: str, lang: str) -> str:
    """"1,2,3,4,5" as 周一至周五 / Mon–Fri; other sets listed day by day."""
    try:
        days = sorted({int(d) for d in service_days.split(",") if d.strip()} & set(range(1, 8)))
    except ValueError:
        return service_days
    names = [_WEEKDAYS[lang if lang in _WEEKDAYS else "zh"][d - 1] for d in days]
    if lang == "en":
        return "every day" if len(days) == 7 else (f"{names[0]}–{names[-1]}" if days == list(range(days[0], days[-1] + 1))
                                                     and len(days) > 2 else ", ".join(names))
    if len(days) == 7:
        return "每天"
    if len(days) > 2 and days == list(range(days[0], days[-1] + 1)):
        return f"周{names[0]}至周{names[-1]}"
    return "、".join("周" + n for n in names)


def centres_reply(city_file: Path, lang: str) -> str:
    """The city's and the districts' centres, for a citizen who asks where to go (sharing a location finds
    the nearest, street and community ones included)."""
    try:
        centres = [c for c in load_city(city_file).centres if c.level in (Level.city, Level.county)]
    except ValueError:  # CityError lists what is wrong with the file
        log.exception("cannot read the city file")
        centres = []
    if not centres:
        return t("no_centre", lang)
    centres.sort(key=lambda c: c.level is not Level.city)  # the city's centre first
    lines = [t("centre_line", lang, name=c.name, address=c.address, phone=c.phone) for c in centres[:5]]
    return t("centres", lang, centres="\n".join(lines))


# ---- a shared location ------------------------------------------------------------------------------


def locate(city_file: Path, lat: float | None, lon: float | None) -> dict[str, object]:
    """The nearest centre of the city file, as stored with the message (the coordinates are not kept)."""
    if lat is None or lon is None or not (math.isfinite(lat) and math.isfinite(lon)) \
            or abs(lat) > 90 or abs(lon) > 180:
        return {"centre": None}
    try:
        found = load_city(city_file).nearest(lat, lon)
    except ValueError:  # CityError lists what is wrong with the file
        log.exception("cannot read the city file")
        return {"centre": None}
    if not found:
        return {"centre": None}
    centre, km = found[0]
    return {"centre": {"name": centre.name, "address": centre.address, "phone": centre.phone, "km": round(km, 1)}}


def located_reply(decision: dict[str, object], lang: str) -> str:
    centre = decision.get("centre")
    if not isinstance(centre, dict):
        return t("no_centre", lang)
    return t("nearest_centre", lang, **centre)


# ---- deleting a citizen's data ----------------------------------------------------------------------


def delete_citizen_data(session: Session, channel: str, channel_user_id: str, data_dir: Path | None = None) -> bool:
    """Delete a citizen's messages, the files they sent (under ``data_dir``, the running settings' when
    None) and personal data, keeping what the bureau counts, anonymously.

    Open conversations are first closed as ``withdrawn`` (a waiting or claimed ticket is cancelled).
    Then every message is deleted, the free text kept elsewhere (the question awaiting clarification,
    the handoff packet and summary, lawyers' notes, feedback comments) is cleared, and the channel user
    id becomes a salted hash that nobody can link back. The citizen row, the conversations with their
    service, topic and outcome, the tickets and the ratings remain as anonymous counts. A later message
    from the same chat starts a new citizen. Returns False when there was no such citizen. The caller
    commits.
    """
    citizen = session.exec(
        select(Citizen).where(Citizen.channel == channel, Citizen.channel_user_id == channel_user_id)
    ).first()
    if citizen is None or citizen.id is None:
        return False
    lock_citizen(session, citizen.id)
    conversations = session.exec(select(Conversation).where(Conversation.citizen_id == citizen.id)).all()
    for conversation in conversations:
        if conversation.status != ConversationStatus.closed:
            close_conversation(session, conversation, Outcome.withdrawn, "citizen_deleted_data",
                               ticket_status=TicketStatus.cancelled)
    conversation_ids = [c.id for c in conversations if c.id is not None]
    if conversation_ids:
        _clear_conversations(session, conversation_ids)
    applications.erase_citizen(session, citizen.id)  # before the messages its events point to go
    attachments.delete_for_citizen(session, data_dir if data_dir is not None else get_settings().data_dir, citizen.id)
    session.execute(delete(Message).where(col(Message.citizen_id) == citizen.id))
    salt = secrets.token_bytes(32)
    citizen.channel_user_id = "erased:" + hashlib.sha256(salt + channel_user_id.encode()).hexdigest()[:40]
    citizen.display_name = None
    citizen.last_inbound_at = None
    session.add(citizen)
    return True


def _clear_conversations(session: Session, conversation_ids: list[int]) -> None:
    in_these = col(HandoffTicket.conversation_id).in_(conversation_ids)
    session.execute(update(HandoffTicket).where(in_these).values(packet={}, summary=None))
    ticket_ids = session.exec(select(HandoffTicket.id).where(in_these)).all()
    if ticket_ids:
        session.execute(delete(TicketNote).where(col(TicketNote.ticket_id).in_(ticket_ids)))
    session.execute(
        update(Feedback).where(col(Feedback.conversation_id).in_(conversation_ids))
        .values(comment=None, message_id=None)
    )
    session.execute(
        update(Conversation).where(col(Conversation.id).in_(conversation_ids)).values(clarify_text=None)
    )
