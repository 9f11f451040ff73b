"""Checks on what arrives at the webhook: the secret token, the body size, a readable update."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from typing import TYPE_CHECKING, Any

from fastapi import Request
from sqlalchemy import delete
from sqlmodel import col
from telegram import Update

from bot.store import (
    InboundUpdate,
    Store,
)

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
#: Telegram's updates are a few KB; a 4096-character message with a quoted reply stays far below this.
MAX_UPDATE_BYTES = 128 * 1024
SECRET_TOKEN_FORMAT = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


def webhook_secret(token: str) -> str:
    """The secret token for setWebhook when none is configured: derived from the bot token, so every
    worker of one deployment registers and expects the same value."""
    return hmac.new(token.encode(), b"legalbot telegram webhook", hashlib.sha256).hexdigest()


def secret_matches(expected: str, given: str | None) -> bool:
    """Constant-time comparison of the X-Telegram-Bot-Api-Secret-Token header."""
    if given is None:
        return False
    # Starlette decodes header values as latin-1, so this round-trips whatever the client sent.
    return hmac.compare_digest(expected.encode(), given.encode("latin-1"))


async def read_body(request: Request, limit: int) -> bytes | None:
    """The request body, or None once it grows past ``limit`` (a declared length is checked first)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def parse_update(body: bytes, bot: Any) -> Update | None:
    """A Telegram ``Update`` from a webhook body, or None when it is not one."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError; RecursionError: absurd nesting
        return None
    update_id = data.get("update_id") if isinstance(data, dict) else None
    if not isinstance(update_id, int) or isinstance(update_id, bool) or not 0 <= update_id < 2**63:
        return None
    try:
        return Update.de_json(data, bot)
    except (AttributeError, KeyError, TypeError, ValueError, RecursionError):  # right shape at the top, wrong inside
        return None


def forget_delivery(store: Store, channel: str, key: str) -> None:
    """Undo ``first_delivery`` for an update whose processing failed, so its redelivery is processed."""
    with store.session() as session:
        session.execute(delete(InboundUpdate).where(col(InboundUpdate.channel) == channel,
                                                    col(InboundUpdate.key) == key[:128]))
        session.commit()


