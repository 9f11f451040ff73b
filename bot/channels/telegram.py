"""The Telegram channel (python-telegram-bot v22): long polling for development, a webhook for production.

``LEGALBOT_TELEGRAM_MODE=polling`` runs the library's updater inside our event loop;
``webhook`` registers ``POST /webhooks/telegram`` of this app with ``setWebhook`` and a secret token
that every request must carry. Either way each update goes through ``TelegramChannel.handle_update``:

1. its ``update_id`` is recorded with ``first_delivery`` before anything else, so a redelivery, even one
   that arrives while the first copy is still being processed, is dropped;
2. the message is stored and answered by the engine in a worker thread (the engine is synchronous),
   or, for what only Telegram has (commands, the language switch, data deletion, shared locations), by
   this module, which stores its replies the same way;
3. the stored replies are sent by the relay path (``deliver_pending``), which claims each message
   before sending it, so each reaches the citizen once and is marked delivered.

Every Bot API call passes ``FloodLimiter``: 30 messages/s overall, one per second in a private chat,
20 a minute in a group, and a retry once a 429's ``retry_after`` has passed. What still fails becomes a
``DeliveryError`` and the relay tries again later, so no reply is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
import re
from collections.abc import AsyncIterator, Callable, Coroutine, Hashable
from typing import TYPE_CHECKING, Any

from aiolimiter import AsyncLimiter
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import delete
from sqlmodel import col, select
from telegram import BotCommand, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Update, User
from telegram import Message as TelegramMessage
from telegram.constants import ChatType, InlineKeyboardButtonLimit, MessageLimit
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, TypeHandler

from bot.channels.base import Channel
from bot.channels.telegram_lawyers import LawyerDesk, is_link_command
from bot.delivery import LEASE_SECONDS, DeliveryError, deliver_pending, first_delivery
from bot.engine import Incoming
from bot.replies import COMMAND_MENU
from bot.store import (
    Citizen,
    Conversation,
    HandoffTicket,
    InboundUpdate,
    Message,
    Store,
)
from bot.taxonomy import Kind
from handoff.auth import lawyer_by_telegram

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

# Opt in to python-telegram-bot's coming time periods as timedelta (v22.2+). Without it the library
# warns from inside every RetryAfter it raises; nothing here reads those attributes either way.
os.environ.setdefault("PTB_TIMEDELTA", "true")

CHANNEL = "telegram"
WEBHOOK_PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
#: Telegram's updates are a few KB; a 4096-character message with a quoted reply stays far below this.
MAX_UPDATE_BYTES = 128 * 1024
#: What the bot asks Telegram for; everything else (edits, reactions, member changes) is not sent.
ALLOWED_UPDATES = ["message", "callback_query"]
MAX_CALLBACK_BYTES = int(InlineKeyboardButtonLimit.MAX_CALLBACK_DATA)
#: Telegram counts some characters twice (UTF-16); stay clear of the 4096 limit.
TEXT_LIMIT = int(MessageLimit.MAX_TEXT_LENGTH) - 96
#: One send, 429 retries included, gives up well before the relay's claim on the message expires.
SEND_DEADLINE = LEASE_SECONDS / 2
#: Labels up to this long share a keyboard row in pairs; longer ones get a row each.
SHORT_LABEL = 8
#: Pauses before trying a failed update again in polling mode.
POLLING_RETRY_DELAYS = (1.0, 5.0)
_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")

#: Checked in this order: an animation is also a document, a video note is not a video.
MEDIA_KINDS = ("photo", "sticker", "voice", "audio", "video_note", "video", "animation", "document", "contact")

JSONDict = dict[str, Any]


# ---- rendering -------------------------------------------------------------------------------------


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
    """Cut a long text into messages Telegram accepts, at a line break where one is near."""
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        newline = rest.rfind("\n", 0, limit)
        cut = newline + 1 if newline > limit // 2 else limit
        pieces.append(rest[:cut].rstrip("\n"))
        rest = rest[cut:]
    if rest or not pieces:
        pieces.append(rest)
    return pieces


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


# ---- webhook request checks ------------------------------------------------------------------------


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
    except ValueError:  # includes UnicodeDecodeError
        return None
    update_id = data.get("update_id") if isinstance(data, dict) else None
    if not isinstance(update_id, int) or isinstance(update_id, bool) or update_id < 0:
        return None
    try:
        return Update.de_json(data, bot)
    except (AttributeError, KeyError, TypeError, ValueError):  # right shape at the top, wrong inside
        return None


def forget_delivery(store: Store, channel: str, key: str) -> None:
    """Undo ``first_delivery`` for an update whose processing failed, so its redelivery is processed."""
    with store.session() as session:
        session.execute(delete(InboundUpdate).where(col(InboundUpdate.channel) == channel,
                                                    col(InboundUpdate.key) == key[:128]))
        session.commit()


# ---- flood limits ----------------------------------------------------------------------------------


class FloodLimiter(AIORateLimiter):
    """``AIORateLimiter`` plus Telegram's limit of about one message a second in a private chat.

    AIORateLimiter keeps the bot under 30 messages a second overall and 20 a minute per group, and
    after a 429 holds every request back for its ``retry_after`` before trying again, ``max_retries``
    times. It leaves private chats alone, so a reply of several messages would go out in one burst.
    """

    __slots__ = ("_chat_limiters", "_chat_rate")

    def __init__(self, max_retries: int = 3, chat_rate: float = 1.0) -> None:
        super().__init__(max_retries=max_retries)
        self._chat_rate = chat_rate
        self._chat_limiters: dict[int, AsyncLimiter] = {}

    def _chat_limiter(self, chat_id: int) -> AsyncLimiter:
        if len(self._chat_limiters) > 1024:  # forget chats whose limiter is idle again
            for key, limiter in list(self._chat_limiters.items()):
                if key != chat_id and limiter.has_capacity(limiter.max_rate):
                    del self._chat_limiters[key]
        if chat_id not in self._chat_limiters:
            self._chat_limiters[chat_id] = AsyncLimiter(max_rate=1, time_period=1 / self._chat_rate)
        return self._chat_limiters[chat_id]

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | JSONDict | list[JSONDict]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | JSONDict | list[JSONDict]:
        chat_id = data.get("chat_id")
        if self._chat_rate > 0 and isinstance(chat_id, int) and chat_id > 0:  # private chats only
            async with self._chat_limiter(chat_id):
                return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)
        return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)


class KeyedLocks:
    """One asyncio lock per key (a chat), forgotten when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self._users: dict[Hashable, int] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key], self._locks[key]


# ---- the channel -----------------------------------------------------------------------------------


class TelegramChannel(Channel):
    name = CHANNEL

    def __init__(self, runtime: Runtime, rate_limiter: AIORateLimiter | None = None) -> None:
        super().__init__(runtime)
        settings = runtime.settings
        if not settings.telegram_token:
            raise ValueError("LEGALBOT_TELEGRAM_TOKEN is not set")
        if settings.telegram_mode not in ("polling", "webhook"):
            raise ValueError("LEGALBOT_TELEGRAM_MODE must be 'polling' or 'webhook'")
        if settings.telegram_mode == "webhook" and not settings.telegram_webhook_url:
            raise ValueError("LEGALBOT_TELEGRAM_WEBHOOK_URL must be set in webhook mode")
        self.mode = settings.telegram_mode
        self.store = runtime.store
        self.engine = runtime.engine
        self.webhook_url = settings.telegram_webhook_url
        self.service_centres_file = settings.service_centres_file
        self.secret_token = settings.telegram_secret_token or webhook_secret(settings.telegram_token)
        if not _SECRET_TOKEN.match(self.secret_token):
            raise ValueError("LEGALBOT_TELEGRAM_SECRET_TOKEN: 1-256 characters of A-Z, a-z, 0-9, _ and -")

        builder = (ApplicationBuilder().token(settings.telegram_token).base_url(settings.telegram_api_base)
                   .rate_limiter(rate_limiter or FloodLimiter()).concurrent_updates(True).job_queue(None))
        if self.mode == "webhook":
            builder = builder.updater(None)  # updates come in through our own route
        self.application: Application[Any, Any, Any, Any, Any, Any] = builder.build()
        self.application.add_handler(TypeHandler(Update, self._from_polling))
        self.application.add_error_handler(self._on_error)
        #: Lawyer mode: the lawyers' group (if configured) and linked lawyers' private chats.
        self.desk = LawyerDesk(self.store, runtime.queue, lambda: self.bot, settings.telegram_lawyers_chat_id,
                               citizen_told=self._ticket_citizen_told)

        self._inbound = KeyedLocks()  # one update per chat at a time, in order
        self._outbound = KeyedLocks()  # one send per chat at a time, in order
        self._deliveries: set[asyncio.Task[None]] = set()
        self._connecting: asyncio.Task[None] | None = None
        #: Pieces of a long message already sent, so a retry does not repeat them.
        self._pieces_sent: dict[int, int] = {}

    @property
    def bot(self) -> Any:
        return self.application.bot

    # ---- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect (getMe), then register the webhook or start polling; keep trying if Telegram is away."""
        self.desk.start()
        try:
            await self._connect()
        except TelegramError as exc:
            log.error("telegram: cannot reach the Bot API (%s); retrying in the background", type(exc).__name__)
            self._connecting = asyncio.create_task(self._connect_until_done())

    async def _connect(self) -> None:
        await self.application.initialize()
        await self._register_commands()
        await self.desk.register_commands()
        if self.mode == "webhook":
            assert self.webhook_url is not None
            await self.bot.set_webhook(url=self.webhook_url, secret_token=self.secret_token,
                                       allowed_updates=ALLOWED_UPDATES)
            log.info("telegram: webhook registered")
            return
        if not self.application.running:
            await self.application.start()
        assert self.application.updater is not None
        await self.application.updater.start_polling(allowed_updates=ALLOWED_UPDATES)
        log.info("telegram: polling for updates")

    async def _register_commands(self) -> None:
        """The menu behind the "/" button. Cosmetic: a failure is logged and does not stop the channel."""
        try:
            await self.bot.set_my_commands([BotCommand(*c) for c in COMMAND_MENU["zh"]])
            await self.bot.set_my_commands([BotCommand(*c) for c in COMMAND_MENU["en"]], language_code="en")
        except TelegramError as exc:
            log.warning("telegram: could not register the command menu (%s)", type(exc).__name__)

    async def _connect_until_done(self) -> None:
        delay = 1.0
        while True:
            await asyncio.sleep(delay)
            try:
                await self._connect()
                return
            except TelegramError as exc:
                delay = min(delay * 2, 60.0)
                log.warning("telegram: still cannot reach the Bot API (%s)", type(exc).__name__)

    async def stop(self) -> None:
        await self.desk.stop()
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connecting
        updater = self.application.updater
        if updater is not None and updater.running:
            await updater.stop()
        if self.application.running:
            await self.application.stop()
        await self.drain(timeout=10)
        await self.application.shutdown()

    async def drain(self, timeout: float | None = None) -> None:
        """Wait for the replies being delivered (tests; shutdown). What is left stays for the relay."""
        while self._deliveries:
            done, pending = await asyncio.wait(set(self._deliveries), timeout=timeout)
            self._deliveries -= done
            if pending:
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                return

    # ---- receiving ---------------------------------------------------------------------------------

    def router(self) -> APIRouter | None:
        if self.mode != "webhook":
            return None
        api = APIRouter(tags=["telegram"])

        @api.post(WEBHOOK_PATH, include_in_schema=False)
        async def telegram_webhook(request: Request) -> Response:
            # The secret is checked before the body is even read: a forged request is not processed.
            if not secret_matches(self.secret_token, request.headers.get(SECRET_HEADER)):
                return JSONResponse({"detail": "forbidden"}, status_code=403)
            body = await read_body(request, MAX_UPDATE_BYTES)
            if body is None:
                return JSONResponse({"detail": "update too large"}, status_code=413)
            update = parse_update(body, self.bot)
            if update is None:
                return JSONResponse({"detail": "not a Telegram update"}, status_code=400)
            # Stored and decided before Telegram gets its 200; the replies go out in the background.
            await self.handle_update(update)
            return Response(status_code=200)

        return api

    async def _from_polling(self, update: Update, _context: Any) -> None:
        """Polling has no redelivery (the update is already confirmed), so a failure is retried here."""
        for delay in POLLING_RETRY_DELAYS:
            try:
                await self.handle_update(update)
                return
            except Exception as exc:
                log.warning("telegram: update %s failed (%s); trying again in %.0f s", update.update_id,
                            type(exc).__name__, delay)
                await asyncio.sleep(delay)
        await self.handle_update(update)  # the last try: its failure goes to the error handler

    async def _on_error(self, _update: object, context: Any) -> None:
        log.error("telegram: an update failed (%s)", type(context.error).__name__, exc_info=context.error)

    async def handle_update(self, update: Update) -> None:
        """The one way in, from polling and from the webhook: dedup, store and decide, then deliver.

        Private chats are citizens', except those of lawyers who linked their account (lawyer mode);
        of groups, only the lawyers' group is listened to."""
        chat = update.effective_chat
        if chat is None:
            return
        in_lawyers_group = chat.type != ChatType.PRIVATE
        if in_lawyers_group and (self.desk.group_chat_id is None or chat.id != self.desk.group_chat_id):
            return  # other groups and channels are not citizens' chats
        async with self._inbound.hold(chat.id):
            key = str(update.update_id)
            if not await asyncio.to_thread(first_delivery, self.store, CHANNEL, key):
                log.info("telegram: update %s was already received; dropped", update.update_id)
                return
            try:
                citizen_id = None
                if in_lawyers_group:
                    await self.desk.from_group(update)
                elif (lawyer := await asyncio.to_thread(lawyer_by_telegram, self.store, chat.id)) is not None \
                        or is_link_command(update):
                    await self.desk.from_lawyer(update, lawyer)
                else:
                    citizen_id = await self._dispatch(update, str(chat.id))
            except Exception:
                # Nothing was stored for it, so let Telegram's redelivery in rather than lose the message.
                try:
                    await asyncio.to_thread(forget_delivery, self.store, CHANNEL, key)
                except Exception:
                    log.exception("telegram: could not release update %s for redelivery", update.update_id)
                raise
        if citizen_id is not None:
            self._deliver_soon(citizen_id)

    async def _dispatch(self, update: Update, user_id: str) -> int | None:
        """Turn one update into an ``Incoming`` for the engine; returns the citizen whose replies wait."""
        language = await asyncio.to_thread(self._language_if_new, user_id, update.effective_user)
        incoming = Incoming(channel=CHANNEL, user_id=user_id, language=language)
        query = update.callback_query
        message = update.message
        if query is not None:
            await self._acknowledge(query)
            if not query.data:
                return None
            incoming.payload, incoming.kind = query.data, Kind.button
        elif message is None:
            return None  # an edit or anything else without a new message: nothing to answer
        else:
            incoming.channel_message_id = str(message.message_id)
            # A caption is read as the question; media without words gets the engine's "please write it".
            text = message.text if message.text is not None else message.caption
            if message.location is not None:
                incoming.kind = Kind.location
                incoming.latitude, incoming.longitude = message.location.latitude, message.location.longitude
            elif text:
                incoming.text = text
                incoming.kind = Kind.command if text.startswith("/") else Kind.text
            elif message.effective_attachment is not None:
                incoming.kind, incoming.media = Kind.media, media_kind(message)
            else:
                return None  # a service message (a pin, a payment …): nothing the citizen wrote
        reply = await asyncio.to_thread(self.engine.handle, incoming)
        for notice in reply.notices:  # not stored (a data deletion's confirmation): sent straight away
            try:
                await self.bot.send_message(chat_id=int(user_id), text=notice)
            except TelegramError as exc:
                log.warning("telegram: could not send a notice (%s)", type(exc).__name__)
        return reply.incoming.citizen_id or None

    async def _acknowledge(self, query: CallbackQuery) -> None:
        """Stop the button's spinner. Cosmetic: a failure here must not stop the press being handled."""
        try:
            await query.answer()
        except TelegramError as exc:
            log.warning("telegram: answerCallbackQuery failed (%s)", type(exc).__name__)

    # ---- storage helpers (worker threads) ----------------------------------------------------------

    def _language_if_new(self, user_id: str, user: User | None) -> str | None:
        """The Telegram app's language for a first contact; None afterwards, so /language sticks."""
        with self.store.session() as session:
            known = session.exec(
                select(Citizen.id).where(Citizen.channel == CHANNEL, Citizen.channel_user_id == user_id)
            ).first()
        return None if known is not None else telegram_language(user)

    # ---- sending -----------------------------------------------------------------------------------

    async def _ticket_citizen_told(self, ticket_id: int) -> None:
        """A lawyer wrote to a ticket's citizen: send it now if the citizen is on Telegram."""

        def citizen_of() -> int | None:
            with self.store.session() as session:
                return session.exec(
                    select(Conversation.citizen_id).join(HandoffTicket, col(HandoffTicket.conversation_id) == Conversation.id)
                    .where(HandoffTicket.id == ticket_id, Conversation.channel == CHANNEL)
                ).first()

        citizen_id = await asyncio.to_thread(citizen_of)
        if citizen_id is not None:
            self._deliver_soon(citizen_id)

    def _deliver_soon(self, citizen_id: int) -> None:
        task = asyncio.create_task(self._deliver(citizen_id))
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _deliver(self, citizen_id: int) -> None:
        try:
            await deliver_pending(self.store, {CHANNEL: self}, citizen_id=citizen_id)
        except Exception:
            log.exception("telegram: delivering replies failed; the relay will retry")

    async def send(self, user_id: str, message: Message) -> str | None:
        """Send one stored message as plain text (no parse mode, so nothing needs escaping)."""
        if not user_id.isdigit():
            raise DeliveryError("telegram_no_chat: the citizen's chat id was deleted", retryable=False)
        if not message.text.strip():
            raise DeliveryError("telegram_empty: Telegram does not send empty messages", retryable=False)
        assert message.id is not None
        chat_id = int(user_id)
        pieces = split_text(message.text)
        markup = inline_keyboard(message.buttons)
        sent_id: str | None = None
        async with self._outbound.hold(chat_id):
            try:
                async with asyncio.timeout(SEND_DEADLINE):
                    for index in range(self._pieces_sent.get(message.id, 0), len(pieces)):
                        last = index == len(pieces) - 1
                        sent = await self.bot.send_message(chat_id=chat_id, text=pieces[index],
                                                           reply_markup=markup if last else None)
                        self._pieces_sent[message.id] = index + 1
                        sent_id = str(sent.message_id)
            except RetryAfter:
                raise DeliveryError("telegram_flood: still rate limited (429) after waiting; will retry") from None
            except Forbidden:
                raise DeliveryError("telegram_forbidden: the citizen has blocked the bot", retryable=False) from None
            except BadRequest as exc:
                raise DeliveryError(f"telegram_bad_request: {exc.message}", retryable=False) from None
            except TimeoutError:
                raise DeliveryError("telegram_timeout: no answer from the Bot API in time; will retry") from None
            except TelegramError as exc:
                raise DeliveryError(f"telegram_error: {type(exc).__name__}; will retry") from None
        self._pieces_sent.pop(message.id, None)
        return sent_id
