"""The Telegram channel adapter: updates in (polling or webhook), stored replies out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlmodel import col, select
from telegram import BotCommand, CallbackQuery, Update, User
from telegram.constants import ChatType
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, TypeHandler

from bot.channels.base import Channel
from bot.channels.telegram.files import download, file_base_url, material_file
from bot.channels.telegram.flood import FloodLimiter, KeyedLocks
from bot.channels.telegram.lawyers import LawyerDesk, is_link_command
from bot.channels.telegram.render import inline_keyboard, media_kind, split_text, telegram_language
from bot.channels.telegram.webhook import (
    MAX_UPDATE_BYTES,
    SECRET_HEADER,
    SECRET_TOKEN_FORMAT,
    WEBHOOK_PATH,
    forget_delivery,
    parse_update,
    read_body,
    secret_matches,
    webhook_secret,
)
from bot.delivery import LEASE_SECONDS, DeliveryError, deliver_pending, first_delivery
from bot.engine import Incoming
from bot.replies import COMMAND_MENU
from bot.store import (
    Citizen,
    Conversation,
    HandoffTicket,
    Message,
)
from bot.taxonomy import Kind
from handoff.auth import lawyer_by_telegram
from services import attachments

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

# Opt in to python-telegram-bot's coming time periods as timedelta (v22.2+). Without it the library
# warns from inside every RetryAfter it raises; nothing here reads those attributes either way.
os.environ.setdefault("PTB_TIMEDELTA", "true")

CHANNEL = "telegram"
#: What the bot asks Telegram for; everything else (edits, reactions, member changes) is not sent.
ALLOWED_UPDATES = ["message", "callback_query"]
#: One send, 429 retries included, gives up well before the relay's claim on the message expires.
SEND_DEADLINE = LEASE_SECONDS / 2
#: Pauses before trying a failed update again in polling mode.
POLLING_RETRY_DELAYS = (1.0, 5.0)


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
        self.webhook_url = settings.telegram_webhook_url
        self.secret_token = settings.telegram_secret_token or webhook_secret(settings.telegram_token)
        if not SECRET_TOKEN_FORMAT.match(self.secret_token):
            raise ValueError("LEGALBOT_TELEGRAMSECRET_TOKEN_FORMAT: 1-256 characters of A-Z, a-z, 0-9, _ and -")

        builder = (ApplicationBuilder().token(settings.telegram_token).base_url(settings.telegram_api_base)
                   .rate_limiter(rate_limiter or FloodLimiter()).concurrent_updates(True).job_queue(None))
        if (files := file_base_url(settings.telegram_api_base)) is not None:
            builder = builder.base_file_url(files)  # photos for materials come from the same server
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
            file = material_file(message)
            if message.location is not None:
                incoming.kind = Kind.location
                incoming.latitude, incoming.longitude = message.location.latitude, message.location.longitude
            elif file is not None and await asyncio.to_thread(self.engine.desk.awaits_materials, self.store,
                                                              CHANNEL, user_id):
                # An office asked for materials: the photo or document is fetched and goes to it (the
                # caption with it); otherwise nothing is downloaded.
                limit = self.runtime.settings.attachment_max_bytes
                try:
                    content = await download(self.bot, file, limit)
                    saved = await asyncio.to_thread(attachments.receive, self.store, self.runtime.settings.data_dir,
                                                    CHANNEL, user_id, content, file.name, limit)
                except attachments.AttachmentError as exc:  # nothing stored; the citizen is told why
                    await self._notify(user_id, str(exc))
                    return None
                incoming.kind, incoming.media, incoming.text = Kind.media, saved.kind, text or ""
                incoming.attachment_id = saved.id
            elif text:
                incoming.text = text
                incoming.kind = Kind.command if text.startswith("/") else Kind.text
            elif message.effective_attachment is not None:
                incoming.kind, incoming.media = Kind.media, media_kind(message)
            else:
                return None  # a service message (a pin, a payment …): nothing the citizen wrote
        reply = await asyncio.to_thread(self.receive, incoming)
        for notice in reply.notices:  # not stored (a data deletion's confirmation): sent straight away
            await self._notify(user_id, notice)
        return reply.incoming.citizen_id or None

    async def _notify(self, user_id: str, text: str) -> None:
        """Send a text that is deliberately not stored."""
        try:
            await self.bot.send_message(chat_id=int(user_id), text=text)
        except TelegramError as exc:
            log.warning("telegram: could not send a notice (%s)", type(exc).__name__)

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
