"""How stored replies look on Telegram: inline keyboards, texts cut to Telegram's limit, media kinds."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, User
from telegram import Message as TelegramMessage
from telegram.constants import InlineKeyboardButtonLimit, MessageLimit

if TYPE_CHECKING:
    pass
from bot.channels.base import split_lines

log = logging.getLogger(__name__)

MAX_CALLBACK_BYTES = int(InlineKeyboardButtonLimit.MAX_CALLBACK_DATA)
#: Telegram counts some characters twice (UTF-16); stay clear of the 4096 limit.
TEXT_LIMIT = int(MessageLimit.MAX_TEXT_LENGTH) - 96
#: Labels up to this long share a keyboard row in pairs; longer ones get a row each.
SHORT_LABEL = 8
#: Checked in this order: an animation is also a document, a video note is not a video.
MEDIA_KINDS = ("photo", "sticker", "voice", "audio", "video_note", "video", "animation", "document", "contact")


def inline_keyboard(buttons: list[dict[str, str]]) -> InlineKeyboardMarkup | None:
    """The stored buttons as an inline keyboard whose callback data is the payload (at most 64 bytes)."""
    usable: list[InlineKeyboardButton] = []
    for button in buttons:
        label, payload = button.get("label", ""), button.get("payload", "")
        if not label or not payload or len(payload.encode()) > MAX_CALLBACK_BYTES:
            log.warning("button with payload %r cannot be a Telegram button; left out", payload[:80])
            continue
        usable.append(InlineKeyboardButton(label, callback_data=payload))
    if not usable:
        return None
    per_row = 2 if all(len(b.text) <= SHORT_LABEL for b in usable) else 1
    return InlineKeyboardMarkup([usable[i:i + per_row] for i in range(0, len(usable), per_row)])


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Cut a long text into messages Telegram accepts (it counts characters)."""
    return split_lines(text, limit)


def telegram_language(user: User | None) -> str | None:
    """The bot's language for a Telegram user's app language, when it is one the bot speaks."""
    code = (user.language_code or "").lower() if user is not None else ""
    if code.startswith("zh"):
        return "zh"
    if code.startswith("en"):
        return "en"
    return None


def media_kind(message: TelegramMessage) -> str:
    for kind in MEDIA_KINDS:
        if getattr(message, kind, None):
            return kind
    return "other"


