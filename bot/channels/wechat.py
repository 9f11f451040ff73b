"""The WeChat Official Account channel (wechatpy): webhook, passive replies, customer-service messages.

WeChat pushes each message to ``/webhooks/wechat`` and waits five seconds for the answer; without
one it retries, three times. So every request is checked first (signature in constant time, a fresh
timestamp, a small body, well-formed XML), a redelivered MsgId is dropped in the database, and the
engine runs in a worker thread: when it is done within ``passive_timeout`` the reply goes back in the
HTTP response (a *passive* reply, encrypted in safe mode); otherwise the answer is "success" and the
relay sends the stored messages later as *customer-service* messages through the WeChat API.

Both paths claim a stored message with a conditional update before using it, so no message reaches
the citizen twice, even with several workers. Customer-service messages are only accepted for a while
after the citizen's last action (``reply_window``); a message that cannot be sent keeps the reason.

Buttons become a numbered text menu ("回复 1 有帮助"); a reply with the number presses the button. The
numbers are resolved from the stored messages, so they survive a restart.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import secrets
import time
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import requests
import xmltodict
from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import PlainTextResponse
from sqlalchemy import update as sql_update
from sqlmodel import Session, col, select
from wechatpy import WeChatClient, parse_message
from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException, WeChatClientException
from wechatpy.replies import create_reply
from wechatpy.utils import WeChatSigner

from bot.actions import MENU, UNSUBSCRIBE
from bot.channels.base import Channel
from bot.delivery import LEASE_SECONDS, DeliveryError, first_delivery, register_reply_window
from bot.engine import Incoming, Reply
from bot.replies import t
from bot.store import Citizen, Conversation, Message, Store, utcnow
from bot.taxonomy import ConversationStatus, Kind

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

CHANNEL = "wechat"
PATH = "/webhooks/wechat"

#: WeChat gives up after 5 s; answer passively only if the engine is done well before that.
PASSIVE_TIMEOUT = 4.0
#: After this long nobody can still be answering a message passively (the relay may take its replies).
PASSIVE_HORIZON_MARGIN = 1.0
#: Requests whose timestamp is further from now than this are replays (or a badly wrong clock).
MAX_CLOCK_SKEW = 300
#: WeChat's pushes are a few KB; a long encrypted text is well under this.
MAX_BODY = 128 * 1024
#: Text message content limit, in UTF-8 bytes, for passive replies and customer-service messages.
TEXT_LIMIT = 2048
#: How long an unfinished customer-service send keeps its claim before another worker may retry it
#: (the relay's lease: after it, another relay may call send() for the same message).
SEND_CLAIM_SECONDS = LEASE_SECONDS
#: How long send() waits for another worker that holds the message (after the relay's lease expired).
CLAIM_WAIT = 10.0

#: The customer-service window: a message from the citizen allows 5 messages within 48 hours;
#: subscribing or clicking a menu item only 3 within a minute. The latest action sets the quota anew.
MESSAGE_WINDOW = timedelta(hours=48)
MESSAGE_QUOTA = 5
EVENT_WINDOW = timedelta(minutes=1)
EVENT_QUOTA = 3

#: ``Message.channel_message_id`` of outgoing WeChat messages says how each one was (being) sent.
PASSIVE = "passive:"  # in the HTTP response to the citizen's message
SENT = "kf:"  # as customer-service messages; "kf:2" = two API calls (a long text is split)
SENDING = "kf-sending:"  # claimed by a worker that is sending it now: "kf-sending:<epoch>:<random>"

#: The stored inbound "message" of an unsubscribe event; no message can reach the citizen after it.
UNSUBSCRIBED = "unsubscribe"
MEDIA_KINDS = {"image": "image", "voice": "voice", "video": "video", "shortvideo": "video", "link": "link"}

#: WeChat API errors after which sending the same message again cannot succeed, with what to do.
FATAL_API_ERRORS = {
    45015: "wechat_window_closed: 微信拒绝发送（45015）：距市民最后一条消息已超过48小时，需等市民再次留言",
    45047: "wechat_quota_used: 微信拒绝发送（45047）：客服消息条数已达上限，需等市民再次留言",
    43004: "wechat_unsubscribed: 微信拒绝发送（43004）：市民未关注或已取消关注公众号",
    40003: "wechat_bad_openid: 微信拒绝发送（40003）：OpenID 无效",
    48001: "wechat_no_permission: 微信拒绝发送（48001）：公众号没有客服消息接口权限，请在公众平台开通",
    40164: "wechat_ip_not_whitelisted: 微信拒绝调用（40164）：服务器出口IP不在公众号的IP白名单中",
}
#: Errors worth another try: system busy, rate limited, token expired or revoked meanwhile.
RETRYABLE_API_ERRORS = {-1, 45009, 40001, 40014, 42001}


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# ---- request checks ------------------------------------------------------------------------------


def signature_of(*parts: str) -> str:
    """WeChat's SHA-1 over the sorted parts (token, timestamp, nonce[, encrypted message])."""
    signer = WeChatSigner()
    signer.add_data(*parts)
    return str(signer.signature)


def _same(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode())


def _fresh(timestamp: str, now: float) -> bool:
    return timestamp.isdigit() and abs(now - int(timestamp)) <= MAX_CLOCK_SKEW


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
    return Update(openid, key, "engine", kind=Kind.media, media=MEDIA_KINDS.get(message.type, "unknown"), msg_id=msg_id)


# ---- rendering: buttons as a numbered menu -------------------------------------------------------


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
    """Cut a long text into pieces of at most ``limit`` UTF-8 bytes, at a line break where possible."""
    pieces: list[str] = []
    rest = text
    while _utf8_len(rest) > limit:
        fits = len(rest.encode()[:limit].decode("utf-8", errors="ignore"))
        newline = rest.rfind("\n", 0, fits)
        cut = newline + 1 if newline > fits // 2 else fits
        pieces.append(rest[:cut].rstrip("\n"))
        rest = rest[cut:]
    if rest or not pieces:
        pieces.append(rest)
    return pieces


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


# ---- the customer-service window -----------------------------------------------------------------


@dataclass
class Window:
    expires_at: datetime | None
    remaining: int
    #: Why nothing can be sent now (a DeliveryError reason), or None while messages can go out.
    closed_reason: str | None = None


def _sent_since(session: Session, citizen_id: int, since: datetime) -> int:
    """Customer-service messages (API calls) WeChat accepted for this citizen since ``since``."""
    markers = session.exec(
        select(Message.channel_message_id).where(
            Message.citizen_id == citizen_id, Message.direction == "out",
            col(Message.delivered_at) > since, col(Message.channel_message_id).startswith(SENT))
    ).all()
    return sum(int(m.split(":", 1)[1]) if m and m.split(":", 1)[1].isdigit() else 1 for m in markers)


def window(session: Session, citizen: Citizen, now: datetime | None = None) -> Window:
    """The customer-service window now open for a citizen (see ``reply_window``)."""
    now = now or utcnow()
    assert citizen.id is not None
    latest = session.exec(
        select(Message).where(Message.citizen_id == citizen.id, Message.direction == "in")
        .order_by(col(Message.id).desc())
    ).first()
    if latest is not None and latest.kind == "event" and latest.text == UNSUBSCRIBED:
        return Window(None, 0, "wechat_unsubscribed: 市民已取消关注公众号，消息无法送达")
    last_message = latest if latest is not None and latest.kind != "event" else session.exec(
        select(Message).where(Message.citizen_id == citizen.id, Message.direction == "in", Message.kind != "event")
        .order_by(col(Message.id).desc())
    ).first()
    # Subscribing and menu clicks also set last_inbound_at but open only a short window; the stored
    # messages tell them apart. Without stored messages (deleted data) last_inbound_at still counts.
    candidates: list[tuple[datetime, datetime, int]] = []  # (opened, expires, quota)
    if last_message is not None:
        opened = _aware(last_message.created_at)
        candidates.append((opened, opened + MESSAGE_WINDOW, MESSAGE_QUOTA))
    elif latest is None and citizen.last_inbound_at is not None:
        opened = _aware(citizen.last_inbound_at)
        candidates.append((opened, opened + MESSAGE_WINDOW, MESSAGE_QUOTA))
    if latest is not None and latest.kind == "event":
        opened = _aware(latest.created_at)
        candidates.append((opened, opened + EVENT_WINDOW, EVENT_QUOTA))
    if not candidates:
        return Window(None, 0, "wechat_window_closed: 该市民从未给公众号发过消息，微信不允许主动发送客服消息")
    open_now = [c for c in candidates if c[1] > now]
    if not open_now:
        expires = max(c[1] for c in candidates)
        return Window(expires, 0, f"wechat_window_closed: 距市民最后一条消息已超过48小时（回复窗口已于 "
                                  f"{expires:%Y-%m-%d %H:%M} UTC 关闭），微信不再允许发送客服消息；"
                                  f"请等市民再次留言，或通过12348电话联系")
    opened, expires, quota = max(open_now, key=lambda c: c[1])
    remaining = max(quota - _sent_since(session, citizen.id, opened), 0)
    if remaining == 0:
        return Window(expires, 0, f"wechat_quota_used: 自市民最后一条消息以来已发送{quota}条客服消息，"
                                  f"达到微信上限；请等市民再次留言")
    return Window(expires, remaining)


def reply_window(store: Store, citizen: Citizen) -> tuple[datetime | None, int]:
    """Until when WeChat accepts customer-service messages to this citizen, and how many more.

    (None, 0) when there is no window at all: the citizen never wrote or has unfollowed the account.
    An ``expires_at`` in the past means the window has closed. Passive replies do not count.
    """
    with store.session() as session:
        result = window(session, citizen)
    return result.expires_at, result.remaining


# ---- claims: a stored message goes out once, passively or as a customer-service message ----------


def claim_passive(store: Store, message_ids: list[int], marker: str) -> set[int]:
    """Mark the messages delivered in the passive reply, unless the relay already took them."""
    if not message_ids:
        return set()
    with store.session() as session:
        session.execute(
            sql_update(Message)
            .where(col(Message.id).in_(message_ids), col(Message.delivered_at).is_(None),
                   col(Message.channel_message_id).is_(None))
            .values(delivered_at=utcnow(), delivery_attempts=col(Message.delivery_attempts) + 1,
                    channel_message_id=marker, delivery_error=None)
        )
        session.commit()
        claimed = session.exec(
            select(Message.id).where(col(Message.id).in_(message_ids), Message.channel_message_id == marker)
        ).all()
    return {i for i in claimed if i is not None}


def _claim_for_sending(store: Store, message_id: int) -> str | None:
    """Claim a message for a customer-service send; None if it is delivered or another worker has it."""
    now = int(time.time())
    token = f"{SENDING}{now:010d}:{secrets.token_hex(4)}"
    stale = f"{SENDING}{now - SEND_CLAIM_SECONDS:010d}"
    with store.session() as session:
        claimable = col(Message.channel_message_id).is_(None) | (
            col(Message.channel_message_id).startswith(SENDING) & (col(Message.channel_message_id) < stale))
        result = session.execute(
            sql_update(Message).where(col(Message.id) == message_id, col(Message.delivered_at).is_(None), claimable)
            .values(channel_message_id=token)
        )
        session.commit()
    return token if result.rowcount == 1 else None  # type: ignore[attr-defined]


def _release(store: Store, message_id: int, token: str) -> None:
    with store.session() as session:
        session.execute(
            sql_update(Message).where(col(Message.id) == message_id, col(Message.channel_message_id) == token)
            .values(channel_message_id=None)
        )
        session.commit()


@dataclass
class _Outbound:
    """What send() needs to know about a stored message, read in one transaction."""

    delivered_marker: str | None  # set when it has been delivered already
    passive_until: float  # epoch seconds until which a passive reply may still take it
    lang: str
    window: Window


def _outbound(store: Store, message_id: int, horizon: float) -> _Outbound:
    with store.session() as session:
        message = session.get(Message, message_id)
        assert message is not None
        citizen = session.get(Citizen, message.citizen_id)
        assert citizen is not None
        passive_until = 0.0
        if message.sender != "lawyer" and message.lawyer_id is None:
            trigger = session.exec(
                select(Message.created_at).where(Message.citizen_id == citizen.id, Message.direction == "in",
                                                 col(Message.id) < message_id)
                .order_by(col(Message.id).desc())
            ).first()
            if trigger is not None:
                passive_until = _aware(trigger).timestamp() + horizon
        delivered = (message.channel_message_id or "delivered") if message.delivered_at is not None else None
        return _Outbound(delivered, passive_until, citizen.language, window(session, citizen))


# ---- the WeChat API client -----------------------------------------------------------------------


class _TimeoutSession(requests.Session):
    """wechatpy fetches the access token without a timeout; give every request one."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.default_timeout = timeout

    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().request(method, url, *args, **kwargs)


class APIClient(WeChatClient):  # type: ignore[misc]
    """wechatpy's client against ``settings.wechat_api_base`` (its token URL is otherwise fixed)."""

    def __init__(self, app_id: str, app_secret: str, api_base: str, timeout: float = 10.0) -> None:
        super().__init__(app_id, app_secret, timeout=timeout)
        self.API_BASE_URL = api_base if api_base.endswith("/") else api_base + "/"
        self._http.close()
        self._http: requests.Session = _TimeoutSession(timeout)

    def close(self) -> None:
        self._http.close()

    def fetch_access_token(self) -> Any:
        return self._fetch_access_token(
            url=self.API_BASE_URL + "token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )


def _api_error(exc: WeChatClientException, sent: int, parts: int) -> DeliveryError:
    code = exc.errcode
    if sent:
        return DeliveryError(f"wechat_partly_sent: 长消息已发出 {sent}/{parts} 段后失败（{code}），未重发以免重复", False)
    if code in FATAL_API_ERRORS:
        return DeliveryError(FATAL_API_ERRORS[code], retryable=False)
    if code is None:
        status = exc.response.status_code if exc.response is not None else "?"
        return DeliveryError(f"wechat_http_error: WeChat API answered HTTP {status}", retryable=True)
    return DeliveryError(f"wechat_api_error {code}: {exc.errmsg}", retryable=code in RETRYABLE_API_ERRORS)


# ---- the channel ---------------------------------------------------------------------------------

class WeChatChannel(Channel):
    name = CHANNEL

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        settings = runtime.settings
        if not settings.wechat_token:
            raise ValueError("LEGALBOT_WECHAT_TOKEN is not set")
        self.token = settings.wechat_token
        self.crypto: WeChatCrypto | None = None
        if settings.wechat_aes_key:
            if not settings.wechat_app_id:
                raise ValueError("safe mode (LEGALBOT_WECHAT_AES_KEY) needs LEGALBOT_WECHAT_APP_ID too")
            try:
                self.crypto = WeChatCrypto(self.token, settings.wechat_aes_key, settings.wechat_app_id)
            except (ValueError, AssertionError):
                raise ValueError("LEGALBOT_WECHAT_AES_KEY must be the 43-character EncodingAESKey") from None
        self.client: APIClient | None = None
        if settings.wechat_app_id and settings.wechat_app_secret:
            self.client = APIClient(settings.wechat_app_id, settings.wechat_app_secret, settings.wechat_api_base)
        #: Seconds to wait for the engine before answering "success" (WeChat allows 5).
        self.passive_timeout = PASSIVE_TIMEOUT
        self._tasks: set[asyncio.Task[Reply]] = set()

    @property
    def store(self) -> Store:
        return self.runtime.store

    # ---- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        log.info("WeChat channel on %s (%s mode)%s", PATH, "safe" if self.crypto else "plaintext",
                 "" if self.client else "; no AppID/AppSecret, so only passive replies can be sent")

    async def stop(self) -> None:
        """Let messages still being processed finish: their replies are stored for the relay."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=30)
        if self.client is not None:
            self.client.close()

    # ---- webhook ---------------------------------------------------------------------------------

    def router(self) -> APIRouter:
        api = APIRouter(tags=["wechat"])

        @api.get(PATH, response_class=PlainTextResponse)
        async def verify(request: Request) -> Response:
            """The URL check when the server address is saved in the WeChat admin console."""
            query = request.query_params
            self._authenticate(query)
            echostr = query.get("echostr", "")
            if self.crypto is not None and query.get("msg_signature"):
                # Safe mode in the WeCom style: the echo string is encrypted and signed.
                if not _same(signature_of(self.token, query["timestamp"], query["nonce"], echostr),
                             query["msg_signature"]):
                    raise HTTPException(status_code=403, detail="bad msg_signature")
                try:
                    echostr = PrpCrypto(self.crypto.key).decrypt(echostr, self.crypto.app_id)
                except Exception:
                    raise HTTPException(status_code=400, detail="cannot decrypt echostr") from None
            if len(echostr) > 256:
                raise HTTPException(status_code=400, detail="echostr too long")
            return PlainTextResponse(echostr)

        @api.post(PATH)
        async def receive(request: Request) -> Response:
            return await self._receive(request)

        return api

    def _authenticate(self, query: Mapping[str, str]) -> None:
        signature, timestamp, nonce = query.get("signature", ""), query.get("timestamp", ""), query.get("nonce", "")
        if not (signature and timestamp and nonce):
            raise HTTPException(status_code=403, detail="missing signature")
        if not _same(signature_of(self.token, timestamp, nonce), signature):
            log.warning("wechat webhook: bad signature")
            raise HTTPException(status_code=403, detail="bad signature")
        if not _fresh(timestamp, time.time()):
            log.warning("wechat webhook: stale timestamp (replay or clock skew)")
            raise HTTPException(status_code=403, detail="stale timestamp")

    async def _read_body(self, request: Request) -> bytes:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            raise HTTPException(status_code=413, detail="body too large")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                raise HTTPException(status_code=413, detail="body too large")
        return bytes(body)

    def _open(self, body: bytes, query: Mapping[str, str]) -> str:
        """The message XML: the body itself, or in safe mode its decrypted ``Encrypt`` element."""
        if self.crypto is None:
            if query.get("encrypt_type") == "aes":
                log.info("wechat webhook: encrypted push but no LEGALBOT_WECHAT_AES_KEY; reading plaintext fields")
            return body.decode("utf-8")
        msg_signature = query.get("msg_signature", "")
        if query.get("encrypt_type") != "aes" or not msg_signature:
            raise HTTPException(status_code=403, detail="safe mode expects encrypted messages")
        outer = xmltodict.parse(body)["xml"]
        encrypted = _text(outer.get("Encrypt"), "Encrypt", required=True)
        if not _same(signature_of(self.token, query["timestamp"], query["nonce"], encrypted), msg_signature):
            raise HTTPException(status_code=403, detail="bad msg_signature")
        try:
            return str(self.crypto.decrypt_message({"Encrypt": encrypted}, msg_signature, query["timestamp"],
                                                   query["nonce"]))
        except (InvalidAppIdException, InvalidSignatureException):
            raise HTTPException(status_code=403, detail="not for this account") from None
        except Exception:
            raise BadRequest("cannot decrypt") from None

    async def _receive(self, request: Request) -> Response:
        started = time.monotonic()
        query = request.query_params
        self._authenticate(query)
        body = await self._read_body(request)
        try:
            message = parse_message(self._open(body, query))
            if message is None:
                raise BadRequest("empty body")
            update = read_update(message)
        except HTTPException:
            raise
        except Exception as exc:  # expat errors, missing or odd elements: nothing we can process
            log.warning("wechat webhook: unreadable message (%s)", type(exc).__name__)
            raise HTTPException(status_code=400, detail="malformed message") from None
        if update.action == "ignore":
            return PlainTextResponse("success")
        if not await asyncio.to_thread(first_delivery, self.store, CHANNEL, update.key):
            return PlainTextResponse("success")  # a redelivery: answered (or being answered) already

        task = asyncio.create_task(asyncio.to_thread(self._process, update))
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        wait = self.passive_timeout - (time.monotonic() - started)
        done, _ = await asyncio.wait({task}, timeout=max(wait, 0.0))
        if not done or task.exception() is not None:
            return PlainTextResponse("success")  # the relay sends whatever the engine stores
        content = await asyncio.to_thread(self._passive_content, task.result(), update)
        if not content:
            return PlainTextResponse("success")
        xml = create_reply(_cdata_safe(content), message=message).render()
        if self.crypto is not None:
            xml = self.crypto.encrypt_message(xml, query["nonce"], query["timestamp"])
        return Response(xml, media_type="application/xml")

    def _finished(self, task: asyncio.Task[Reply]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("wechat: processing failed: %s", type(task.exception()).__name__)

    # ---- processing (worker thread) --------------------------------------------------------------

    def _process(self, update: Update) -> Reply:
        """The update as an ``Incoming`` for the engine (which decides everything, events included)."""
        incoming = Incoming(channel=CHANNEL, user_id=update.openid, text=update.text, payload=update.payload,
                            kind=update.kind, channel_message_id=update.msg_id, media=update.media)
        if update.action == "welcome":
            incoming.payload = MENU  # the disclaimer once, the greeting and the categories
        elif update.action == "unsubscribe":
            incoming.payload = UNSUBSCRIBE  # recorded for the lawyer; nothing more can be sent
        elif update.action == "location":
            incoming.latitude, incoming.longitude = update.latitude, update.longitude
        elif incoming.payload is None and update.kind == Kind.text:
            with self.store.session() as session:
                typed = menu_payload(session, update.openid, update.text)
            if typed is not None:  # a number typed for a numbered button
                incoming.text, incoming.payload, incoming.kind = "", typed, Kind.button
        return self.runtime.engine.handle(incoming)

    def _passive_content(self, reply: Reply, update: Update) -> str:
        """Claim the leading messages that fit in one text reply; the rest are left to the relay."""
        if reply.notices:  # not stored (a data deletion's confirmation): only this reply can carry them
            return "\n\n".join(reply.notices)
        messages = reply.messages
        if not messages:
            return ""
        with self.store.session() as session:
            citizen = session.get(Citizen, messages[0].citizen_id)
            lang = citizen.language if citizen else "zh"
        fitting: list[Message] = []
        for message in messages:  # counted with every menu shown: an upper bound of what is rendered
            if _utf8_len("\n\n".join(render(m, lang) for m in [*fitting, message])) > TEXT_LIMIT:
                break
            fitting.append(message)
        claimed = claim_passive(self.store, [m.id for m in fitting if m.id is not None],
                                f"{PASSIVE}{update.key}"[:128])
        return render_batch([m for m in fitting if m.id in claimed], lang)

    # ---- customer-service messages (called by the relay) -----------------------------------------

    async def send(self, user_id: str, message: Message) -> str | None:
        """Send one stored message as customer-service text; DeliveryError says why not."""
        assert message.id is not None
        horizon = self.passive_timeout + PASSIVE_HORIZON_MARGIN
        token: str | None = None
        deadline: float | None = None
        while token is None:
            state = await asyncio.to_thread(_outbound, self.store, message.id, horizon)
            if state.delivered_marker is not None:
                return state.delivered_marker  # answered passively (or sent by another worker)
            if time.time() < state.passive_until:
                await asyncio.sleep(0.05)  # the webhook may still put it in its passive reply
                continue
            token = await asyncio.to_thread(_claim_for_sending, self.store, message.id)
            if token is None:
                deadline = deadline or time.time() + CLAIM_WAIT
                if time.time() > deadline:
                    raise DeliveryError("wechat_busy: another worker is sending this message", retryable=True)
                await asyncio.sleep(0.2)
        try:
            return await self._send_claimed(user_id, message, state)
        except BaseException:
            await asyncio.to_thread(_release, self.store, message.id, token)
            raise

    async def _send_claimed(self, user_id: str, message: Message, state: _Outbound) -> str:
        if self.client is None:
            raise DeliveryError("wechat_not_configured: 未设置 LEGALBOT_WECHAT_APP_ID / APP_SECRET，无法发送客服消息",
                                retryable=False)
        if state.window.closed_reason is not None:
            raise DeliveryError(state.window.closed_reason, retryable=False)
        parts = split_text(render(message, state.lang))
        if len(parts) > state.window.remaining:
            raise DeliveryError(f"wechat_quota_used: 这条消息需分 {len(parts)} 条发送，但回复窗口只剩 "
                                f"{state.window.remaining} 条；请缩短消息或等市民再次留言", retryable=False)
        sent = 0
        try:
            for part in parts:
                await asyncio.to_thread(self.client.message.send_text, user_id, part)
                sent += 1
        except WeChatClientException as exc:
            raise _api_error(exc, sent, len(parts)) from None
        except requests.RequestException as exc:
            if sent:
                raise DeliveryError(f"wechat_partly_sent: 长消息已发出 {sent}/{len(parts)} 段后网络出错", False) from None
            raise DeliveryError(f"wechat_network: {type(exc).__name__}", retryable=True) from None
        return f"{SENT}{sent}"


register_reply_window("wechat", reply_window)
