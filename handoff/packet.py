"""The handoff packet: what a lawyer reads first, so the citizen is never asked twice: why the chat came,
the facts in the citizen's words (amounts in figures or in Chinese numerals, dates, places, parties), the
answers the bot already gave, and what the citizen did before: earlier conversations and how they ended,
applications and appointments."""

from __future__ import annotations

import re
from typing import Any

from sqlmodel import Session, col, select

from bot.store import Application, Booking, Conversation, Message
from nlu.triage import amounts_in
from services import applications as apps

#: Earlier conversations, applications and appointments shown: the newest so many.
HISTORY = 5

_DATE = re.compile(
    r"(\d{4}年\d{1,2}月(\d{1,2}[日号])?|\d{1,2}月\d{1,2}[日号]|\d{4}-\d{1,2}-\d{1,2}|"
    r"(昨天|前天|今天|上周|上个月|去年|前年|[一二三四五六七八九十两\d]+(个)?(天|月|年)(前|了))|"
    r"[一二三四五六七八九十两\d]+(个)?月(没发|没给|未发))"
)
_PLACE = re.compile(r"[\u4e00-\u9fff]{2,6}?(省|市|区|县|镇|乡|村|街道|小区|工地|医院|法院|派出所)")
_PLACE_PREFIX = re.compile(r"^(我们|我|他们|他|她)?(现在|目前)?(住在|在|是|去|到|从)")
_PARTIES = ("老板", "公司", "单位", "包工头", "房东", "租客", "物业", "开发商", "老公", "丈夫", "老婆", "妻子",
            "前夫", "前妻", "孩子", "父亲", "母亲", "爸爸", "妈妈", "邻居", "医院", "商家", "保险公司", "对方", "朋友",
            "借款人", "银行", "网贷", "派出所", "法院", "employer", "landlord", "husband", "wife")


def extract_facts(texts: list[str]) -> dict[str, list[str]]:
    joined = "\n".join(texts)
    amounts = [f"{a}元" for a in amounts_in(joined)]
    dates = [m.group(0) for m in _DATE.finditer(joined)]
    places = [_PLACE_PREFIX.sub("", m.group(0)) for m in _PLACE.finditer(joined)]
    parties = [p for p in _PARTIES if p in joined]

    def unique(items: list[str]) -> list[str]:
        return list(dict.fromkeys(items))[:10]

    return {"amounts": unique(amounts), "dates": unique(dates), "places": unique(places), "parties": unique(parties)}


_GREETING = re.compile(r"^(你好|您好|在吗|在不在|有人吗|请问|律师|老师|hello|hi|哈喽|嗨|谢谢|麻烦|打扰了|咨询(一下)?)+$", re.I)
_PUNCTUATION = re.compile(r"[\s,，.。!！?？~～、…]+")


def gist(texts: list[str]) -> str:
    """The message that says what the chat is about: the first that is more than a greeting, else the longest."""
    for text in texts:
        bare = _PUNCTUATION.sub("", text)
        if len(bare) >= 8 and not _GREETING.match(bare):
            return text[:500]
    return max(texts, key=len)[:500] if texts else ""


def build_packet(session: Session, conversation: Conversation, reason: str,
                 decision: dict[str, Any] | None) -> dict[str, Any]:
    messages = session.exec(
        select(Message).where(Message.conversation_id == conversation.id).order_by(col(Message.id))
    ).all()
    citizen_texts = [m.text for m in messages if m.direction == "in" and m.kind == "text" and m.text.strip()]
    faq_shown = [
        str(m.decision["faq_id"]) for m in messages
        if m.direction == "out" and m.decision and m.decision.get("faq_id")
    ]
    decision = decision or {}
    return {**history(session, conversation),
        "service": conversation.service,
        "topic": conversation.topic,
        "urgent": conversation.urgent,
        "reason": reason,
        "urgent_reasons": decision.get("urgent_reasons", []),
        #: "danger" when the citizen answered the bot's safety question with "I am in danger now".
        "safety_check": decision.get("safety_check") if isinstance(decision.get("safety_check"), str) else None,
        "complex_reasons": decision.get("complex_reasons", []),
        "facts": extract_facts(citizen_texts),
        "faq_shown": list(dict.fromkeys(faq_shown)),
        "first_message": citizen_texts[0][:500] if citizen_texts else "",
        "gist": gist(citizen_texts),
    }


def history(session: Session, conversation: Conversation) -> dict[str, Any]:
    """The citizen's earlier conversations (and how each ended), applications and appointments."""
    earlier = session.exec(
        select(Conversation).where(Conversation.citizen_id == conversation.citizen_id,
                                   col(Conversation.id) != conversation.id)
        .order_by(col(Conversation.id).desc()).limit(HISTORY)).all()
    firsts = {cid: text for cid, text in session.exec(
        select(Message.conversation_id, Message.text)
        .where(col(Message.conversation_id).in_([c.id for c in earlier]), Message.direction == "in",
               Message.kind == "text", Message.text != "")
        .order_by(col(Message.id).desc())).all()} if earlier else {}  # the oldest written last: the first wins
    forms = apps.forms()
    applications = session.exec(
        select(Application).where(Application.citizen_id == conversation.citizen_id,
                                  col(Application.reference).is_not(None))
        .order_by(col(Application.id).desc()).limit(HISTORY)).all()
    bookings = session.exec(
        select(Booking).where(Booking.citizen_id == conversation.citizen_id)
        .order_by(col(Booking.id).desc()).limit(HISTORY)).all()
    return {
        "earlier": [{"conversation_id": c.id, "opened_at": c.opened_at.isoformat(), "service": c.service,
                     "topic": c.topic, "outcome": c.outcome, "first_message": (firsts.get(c.id or 0) or "")[:120]}
                    for c in earlier],
        "applications": [{"reference": a.reference, "form": a.form,
                          "title": getattr(forms.get(a.form), "title", a.form), "status": a.status,
                          "status_text": apps.STATUS_NAMES.get(a.status, a.status)} for a in applications],
        "bookings": [{"centre": b.centre, "day": b.day, "time": b.time, "status": b.status} for b in bookings],
    }
