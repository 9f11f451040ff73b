"""The WeChat Official Account channel adapter: webhook in, passive replies and customer-service messages out."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

import requests
import xmltodict
from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import PlainTextResponse
from wechatpy import parse_message
from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException, WeChatClientException
from wechatpy.replies import create_reply

from bot.actions import MENU, UNSUBSCRIBE
from bot.channels.base import Channel
from bot.channels.wechat.api import APIClient, _api_error
from bot.channels.wechat.render import (
    TEXT_LIMIT,
    _cdata_safe,
    _utf8_len,
    menu_payload,
    render,
    render_batch,
    split_text,
)
from bot.channels.wechat.request import (
    CHANNEL,
    MAX_NONCE,
    BadRequest,
    Seen,
    Update,
    _fresh,
    _same,
    _text,
    forget_stale_pushes,
    read_update,
    remember_push,
    signature_of,
)
from bot.channels.wechat.window import (
    CLAIM_WAIT,
    PASSIVE,
    PASSIVE_HORIZON_MARGIN,
    SENT,
    _claim_for_sending,
    _Outbound,
    _outbound,
    _release,
    claim_passive,
    reply_window,
)
from bot.delivery import DeliveryError, first_delivery, register_reply_window
from bot.engine import Incoming, Reply
from bot.store import Citizen, Message, Store
from bot.taxonomy import ConversationStatus, Kind
from services import attachments

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)


PATH = "/webhooks/wechat"


#: WeChat gives up after 5 s; answer passively only if the engine is done well before that.
PASSIVE_TIMEOUT = 4.0

#: WeChat's pushes are a few KB; a long encrypted text is well under this.
MAX_BODY = 128 * 1024



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
        self._pruned_at = 0.0

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
        if len(nonce) > MAX_NONCE:
            raise HTTPException(status_code=403, detail="bad nonce")
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
        seen = await asyncio.to_thread(self._remember, query, body)
        if seen is Seen.forged:
            log.warning("wechat webhook: a signed query replayed with another body")
            raise HTTPException(status_code=403, detail="replayed request")
        if seen is Seen.again:
            return PlainTextResponse("success")  # the very same push: answered (or being answered) already
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

    def _remember(self, query: Mapping[str, str], body: bytes) -> Seen:
        """A signed query is good for one push: ``MAX_CLOCK_SKEW`` seconds of nonces are kept to tell."""
        now = time.time()
        if now - self._pruned_at > 60:
            self._pruned_at = now
            forget_stale_pushes(self.store, now)
        return remember_push(self.store, query["timestamp"], query["nonce"], body)

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
        elif update.media_id and self.client is not None and \
                self.engine.desk.awaits_materials(self.store, CHANNEL, update.openid):
            try:  # an office asked for materials: the image is fetched and goes to it; otherwise it is not
                incoming.attachment_id, incoming.media = self._download(update.openid, update.media_id)
            except attachments.AttachmentError as exc:  # nothing stored; said in the passive reply
                return Reply(0, Message(conversation_id=0, citizen_id=0, direction="in", sender="citizen"), [],
                             ConversationStatus.bot.value, notices=[str(exc)])
        elif incoming.payload is None and update.kind == Kind.text:
            with self.store.session() as session:
                typed = menu_payload(session, update.openid, update.text)
            if typed is not None:  # a number typed for a numbered button
                incoming.text, incoming.payload, incoming.kind = "", typed, Kind.button
        return self.receive(incoming)

    def _download(self, openid: str, media_id: str) -> tuple[int | None, str]:
        """Fetch and keep a citizen's image: (attachment id, kind); ``AttachmentError`` says why not."""
        assert self.client is not None
        limit = self.runtime.settings.attachment_max_bytes
        try:
            content = self.client.download_media(media_id, limit)
        except (WeChatClientException, requests.RequestException) as exc:
            log.warning("wechat: could not download an image (%s)", type(exc).__name__)
            raise attachments.AttachmentError(attachments.FAILED) from None
        saved = attachments.receive(self.store, self.runtime.settings.data_dir, CHANNEL, openid, content, None, limit)
        return saved.id, saved.kind

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
