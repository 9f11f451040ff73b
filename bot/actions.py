"""What a citizen can ask for besides a question, the same on every channel: the menu, help, a lawyer,
the language, the privacy notice, deleting their data, and the nearest service centre for a shared
location. Channels only report what was pressed, typed or shared; the engine calls these.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import secrets
import unicodedata
from pathlib import Path

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from bot.conversations import close_conversation
from bot.replies import t
from bot.settings import get_settings
from bot.store import Citizen, Conversation, Feedback, HandoffTicket, Message, TicketNote, lock_citizen
from bot.taxonomy import ConversationStatus, Outcome, TicketStatus
from services import applications, attachments
from services.city import Level, load_city

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

#: Slash commands (typed on any channel; Telegram's command menu sends them) and their payloads.
COMMANDS = {"start": MENU, "menu": MENU, "help": HELP, "lawyer": LAWYER, "privacy": PRIVACY,
            "language": LANGUAGE, "delete_my_data": DELETE}
#: Whole messages that mean a command on channels without a command menu (web chat, WeChat).
KEYWORDS = {"菜单": MENU, "menu": MENU, "帮助": HELP, "help": HELP, "隐私": PRIVACY, "隐私说明": PRIVACY,
            "privacy": PRIVACY, "删除我的数据": DELETE, "删除数据": DELETE, "delete my data": DELETE,
            "english": LANGUAGE_PREFIX + "en", "中文": LANGUAGE_PREFIX + "zh"}
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
