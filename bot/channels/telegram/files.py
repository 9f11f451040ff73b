"""Photos and documents a citizen sends while an office asks for materials: fetched from Telegram only then.

Telegram gives each file's size with the update, so one over the limit is refused before anything is
downloaded; what is downloaded is checked again by its first bytes (services/attachments.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from telegram import Message as TelegramMessage
from telegram.error import TelegramError

from services import attachments

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MaterialFile:
    file_id: str
    size: int | None
    name: str | None
    media: str  # photo | document


def material_file(message: TelegramMessage) -> MaterialFile | None:
    """The file a photo (its largest size) or a document message carries; None for anything else."""
    if message.photo:
        largest = max(message.photo, key=lambda size: (size.width * size.height, size.file_size or 0))
        return MaterialFile(largest.file_id, largest.file_size, None, "photo")
    if message.document is not None and message.animation is None:
        document = message.document
        return MaterialFile(document.file_id, document.file_size, document.file_name, "document")
    return None


def file_base_url(api_base: str) -> str | None:
    """The Bot API's file URL beside its method URL (``…/bot`` → ``…/file/bot``), or None to keep the library's."""
    return api_base[: -len("/bot")] + "/file/bot" if api_base.endswith("/bot") else None


async def download(bot: Any, file: MaterialFile, limit: int) -> bytes:
    """The file's bytes; ``AttachmentError`` (for the citizen) if it is too large or cannot be fetched."""
    attachments.check_size(file.size, limit)
    try:
        found = await bot.get_file(file.file_id)
        attachments.check_size(found.file_size, limit)
        content = await found.download_as_bytearray()
    except (TelegramError, RuntimeError) as exc:  # RuntimeError: Telegram gave no file_path (over 20 MB)
        log.warning("telegram: could not download a file (%s)", type(exc).__name__)
        raise attachments.AttachmentError(attachments.FAILED) from None
    return bytes(content)
