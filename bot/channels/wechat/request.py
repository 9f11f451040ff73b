"""What arrives at the webhook: signature and freshness checks, and the pushed message read into an ``Update``."""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from wechatpy.utils import WeChatSigner

from bot.store import Store, WeChatNonce
from bot.taxonomy import Kind

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

CHANNEL = "wechat"

#: Requests whose timestamp is further from now than this are replays (or a badly wrong clock).
MAX_CLOCK_SKEW = 300


#: The stored inbound "message" of an unsubscribe event; no message can reach the citizen after it.
UNSUBSCRIBED = "unsubscribe"

MEDIA_KINDS = {"image": "image", "voice": "voice", "video": "video", "shortvideo": "video", "link": "link"}


def signature_of(*parts: str) -> str:
    """WeChat's SHA-1 over the sorted parts (token, timestamp, nonce[, encrypted message])."""
    signer = WeChatSigner()
    signer.add_data(*parts)
    return str(signer.signature)


def _same(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode())


def _fresh(timestamp: str, now: float) -> bool:
    return timestamp.isdigit() and len(timestamp) <= 12 and abs(now - int(timestamp)) <= MAX_CLOCK_SKEW


class Seen(Enum):
    """What a signed push's timestamp and nonce say about it."""

    first = "first"
    #: The same query and body again: WeChat retrying (or a replay that can do nothing new).
    again = "again"
    #: The same signed query with another body: a captured signature reused to forge a message.
    forged = "forged"


#: Longer nonces are not WeChat's (it sends about ten digits).
MAX_NONCE = 64


def remember_push(store: Store, timestamp: str, nonce: str, body: bytes) -> Seen:
    """Record the push's (timestamp, nonce) for as long as the timestamp is fresh, in the database so
    that every worker sees it. ``_fresh`` must have accepted the timestamp first."""
    body_hash = hashlib.sha256(body).hexdigest()
    with store.session() as session:
        session.add(WeChatNonce(timestamp=int(timestamp), nonce=nonce, body_hash=body_hash))
        try:
            session.commit()
            return Seen.first
        except IntegrityError:
            session.rollback()
        seen = session.exec(select(WeChatNonce.body_hash).where(WeChatNonce.timestamp == int(timestamp),
                                                                WeChatNonce.nonce == nonce)).first()
    return Seen.again if seen is not None and hmac.compare_digest(seen, body_hash) else Seen.forged


def forget_stale_pushes(store: Store, now: float) -> None:
    """Drop the nonces of pushes whose timestamps are refused as stale anyway."""
    with store.session() as session:
        session.execute(delete(WeChatNonce).where(col(WeChatNonce.timestamp) < int(now) - MAX_CLOCK_SKEW - 60))
        session.commit()


class BadRequest(ValueError):
    """The request is signed but its content is not a WeChat message we can read."""


# ---- what WeChat pushed --------------------------------------------------------------------------


@dataclass
class Update:
    """One push from WeChat, reduced to what the bot needs. ``action`` says who handles it."""

    openid: str
    key: str  # the delivery key for first_delivery: MsgId, or FromUserName+CreateTime+Event for events
    action: str  # engine | welcome | unsubscribe | location | ignore
    kind: Kind = Kind.text
    text: str = ""
    payload: str | None = None
    msg_id: str | None = None
    latitude: float = 0.0
    longitude: float = 0.0
    media: str | None = None
    #: An image's MediaId: downloaded (media/get) only while an office asks the citizen for materials.
    media_id: str | None = None


def _text(value: Any, name: str, required: bool = False) -> str:
    if value is None or value == "":
        if required:
            raise BadRequest(f"missing {name}")
        return ""
    if not isinstance(value, str):  # e.g. a nested element where text belongs
        raise BadRequest(f"{name} is not text")
    return value


def _coordinate(value: Any, name: str, bound: float) -> float:
    try:
        number = float(_text(value, name, required=True))
    except ValueError:
        raise BadRequest(f"{name} is not a number") from None
    if not math.isfinite(number) or abs(number) > bound:
        raise BadRequest(f"{name} out of range")
    return number


def read_update(message: Any) -> Update:
    """Turn a parsed wechatpy message or event into an ``Update``; ``BadRequest`` if it is malformed."""
    openid = _text(message.source, "FromUserName", required=True)
    if len(openid) > 128:
        raise BadRequest("FromUserName too long")
    create_time = str(message.time or 0)
    if message.type == "event":
        event = _text(message.event, "Event") or "unknown"
        event_key = _text(getattr(message, "key", None), "EventKey")
        key = f"{openid}:{create_time}:{event}:{event_key}"
        if event in ("subscribe", "subscribe_scan"):
            return Update(openid, key, "welcome", kind=Kind.event, text="subscribe")
        if event == "unsubscribe":
            return Update(openid, key, "unsubscribe", kind=Kind.event, text=UNSUBSCRIBED)
        if event == "click" and event_key:
            return Update(openid, key, "engine", kind=Kind.event, payload=event_key[:200])
        # Auto-reported LOCATION (sent every time the chat is opened), VIEW, SCAN, template results …
        return Update(openid, key, "ignore", kind=Kind.event)

    msg_id = str(message.id) if message.id else None
    key = msg_id or f"{openid}:{create_time}:{message.type}"
    if message.type == "text":
        return Update(openid, key, "engine", text=_text(message.content, "Content"), msg_id=msg_id)
    if message.type == "location":
        lat = _coordinate(message.location_x, "Location_X", 90)
        lon = _coordinate(message.location_y, "Location_Y", 180)
        label = _text(message.label, "Label")[:200]
        # The label (a place name the citizen chose) is kept for the transcript; the coordinates are not.
        return Update(openid, key, "location", kind=Kind.location, text=label,
                      msg_id=msg_id, latitude=lat, longitude=lon)
    if message.type == "voice" and _text(message.recognition, "Recognition"):
        # The account has speech recognition on: WeChat sends the words along with the audio.
        return Update(openid, key, "engine", text=message.recognition, msg_id=msg_id)
    media_id = _text(getattr(message, "media_id", None), "MediaId")[:256] if message.type == "image" else None
    return Update(openid, key, "engine", kind=Kind.media, media=MEDIA_KINDS.get(message.type, "unknown"), msg_id=msg_id,
                  media_id=media_id or None)


