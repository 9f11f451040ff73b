"""Stored replies as WeChat text: buttons become a numbered menu, long texts are cut; typed numbers become presses."""

from __future__ import annotations

import logging
import unicodedata
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from bot.channels.wechat.request import CHANNEL
from bot.replies import t
from bot.store import Citizen, Conversation, Message
from bot.taxonomy import ConversationStatus

if TYPE_CHECKING:
    pass
from bot.channels.base import split_lines

log = logging.getLogger(__name__)

#: Text message content limit, in UTF-8 bytes, for passive replies and customer-service messages.
TEXT_LIMIT = 2048


def render(message: Message, lang: str, menu: bool = True) -> str:
    """A stored outgoing message as WeChat text; its buttons as lines "回复 1 有帮助"."""
    text = message.text
    if message.sender == "lawyer":
        text = t("lawyer_prefix", lang) + text
    if menu and message.buttons:
        lines = [t("menu_line", lang, n=n, label=b["label"]) for n, b in enumerate(message.buttons, start=1)]
        text = f"{text}\n\n" + "\n".join(lines)
    return text


def render_batch(messages: list[Message], lang: str) -> str:
    """Several messages in one passive reply. Only the last menu is numbered: a number means that one."""
    with_buttons = [m for m in messages if m.buttons]
    last = with_buttons[-1] if with_buttons else None
    return "\n\n".join(render(m, lang, menu=m is last) for m in messages)


def _utf8_len(text: str) -> int:
    return len(text.encode())


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Cut a long text into pieces of at most ``limit`` UTF-8 bytes (WeChat counts bytes)."""
    return split_lines(text, limit, "utf-8")


def _cdata_safe(text: str) -> str:
    # wechatpy puts the content in CDATA without escaping; "]]>" would end it early.
    return text.replace("]]>", "]]]]><![CDATA[>")


def menu_payload(session: Session, openid: str, text: str) -> str | None:
    """The payload of the button a citizen chose by typing its number, if a menu is open.

    The menu is the latest delivered message with buttons since the citizen last wrote, unless a
    lawyer has spoken since (then "1" is an answer to the lawyer, not a button).
    """
    choice = unicodedata.normalize("NFKC", text).strip()
    if not choice.isdigit() or len(choice) > 2:
        return None
    citizen = session.exec(
        select(Citizen).where(Citizen.channel == CHANNEL, Citizen.channel_user_id == openid)
    ).first()
    if citizen is None:
        return None
    with_lawyer = session.exec(
        select(Conversation.id).where(Conversation.citizen_id == citizen.id,
                                      Conversation.status == ConversationStatus.with_lawyer)
    ).first()
    if with_lawyer is not None:
        return None
    last_in = session.exec(
        select(Message.id).where(Message.citizen_id == citizen.id, Message.direction == "in")
        .order_by(col(Message.id).desc())
    ).first()
    shown = session.exec(
        select(Message).where(Message.citizen_id == citizen.id, Message.direction == "out",
                              col(Message.id) > (last_in or 0), col(Message.delivered_at).is_not(None))
        .order_by(col(Message.id).desc()).limit(20)
    ).all()
    for message in shown:
        if message.sender == "lawyer" or message.lawyer_id is not None:
            return None
        if message.buttons:
            number = int(choice)
            return message.buttons[number - 1]["payload"] if 1 <= number <= len(message.buttons) else None
    return None


