"""The lawyers' desk on Telegram: the lawyers' group, linked lawyers' private chats, and the sync pass."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import update as sql_update
from sqlmodel import col, select
from telegram import BotCommand, BotCommandScopeChat, ForceReply, Update
from telegram import Message as TelegramMessage
from telegram.error import BadRequest, Forbidden, TelegramError

from bot.channels.telegram.lawyers.sync import Snapshot, SyncState, command_of
from bot.channels.telegram.lawyers.views import (
    CLAIM,
    GROUP_COMMANDS,
    HELP,
    LAWYER_COMMANDS,
    NOT_LINKED,
    OUTCOME_LABELS,
    QUEUE_SHOWN,
    RESOLVE,
    SYNC_INTERVAL,
    USE,
    _label,
    _markup,
    _minutes,
    briefing,
    ended_text,
    forwarded_text,
    group_post,
    group_state,
    parse_resolve,
    summary_for,
    summary_request,
    superseded,
)
from bot.channels.telegram.render import split_text
from bot.store import (
    HandoffTicket,
    Lawyer,
    Store,
)
from bot.taxonomy import Outcome, Priority, TicketStatus, Topic
from handoff import workbench
from handoff.auth import lawyer_by_telegram, redeem_telegram_link, unlink_telegram
from handoff.queue import LAWYER_OUTCOMES, HandoffError, HandoffQueue

log = logging.getLogger(__name__)

class LawyerDesk:
    """Lawyer mode of one Telegram bot: ``sync`` pushes ticket news out, ``from_group`` and
    ``from_lawyer`` take lawyers' presses and messages in."""

    def __init__(self, store: Store, queue: HandoffQueue, bot: Callable[[], Any], group_chat_id: int | None,
                 citizen_told: Callable[[int], Awaitable[None]] | None = None) -> None:
        """``citizen_told(ticket_id)`` runs after a lawyer's action stored a message for the citizen
        (the channel sends it at once instead of at the relay's next pass)."""
        self.store = store
        self._citizen_told = citizen_told
        self.queue = queue
        self._bot = bot
        self.group_chat_id = group_chat_id
        self.state = SyncState(store, group_on=group_chat_id is not None)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.interval = SYNC_INTERVAL

    @property
    def bot(self) -> Any:
        return self._bot()

    # ---- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def register_commands(self) -> None:
        """The "/" menu in the lawyers' group. Cosmetic: a failure is logged only."""
        if self.group_chat_id is None:
            return
        try:
            await self.bot.set_my_commands([BotCommand(*c) for c in GROUP_COMMANDS],
                                           scope=BotCommandScopeChat(self.group_chat_id))
        except TelegramError as exc:
            log.warning("telegram lawyers: could not set the group's command menu (%s)", type(exc).__name__)

    async def _lawyer_menu(self, telegram_user_id: int, linked: bool) -> None:
        """A linked lawyer's "/" menu shows the lawyer commands instead of the citizens' ones."""
        scope = BotCommandScopeChat(telegram_user_id)
        try:
            if linked:
                await self.bot.set_my_commands([BotCommand(*c) for c in LAWYER_COMMANDS], scope=scope)
            else:
                await self.bot.delete_my_commands(scope=scope)
        except TelegramError as exc:
            log.warning("telegram lawyers: could not set a lawyer's command menu (%s)", type(exc).__name__)

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval)
            self._wake.clear()
            try:
                await self.sync()
            except Exception:
                log.exception("telegram lawyers: sync failed; will retry")

    # ---- pushing ticket news out -------------------------------------------------------------------

    async def sync(self) -> int:
        """Bring every ticket whose Telegram side is behind up to date; returns how many were looked at."""
        done = 0
        for ticket_id in await asyncio.to_thread(self.state.due):
            if not await asyncio.to_thread(self.state.lease, ticket_id):
                continue  # another worker has it
            try:
                snap = await asyncio.to_thread(self.state.snapshot, ticket_id)
                if snap is not None:
                    await self._catch_up(snap)
                    done += 1
            except TelegramError as exc:  # flood control, network: the next pass tries again
                log.warning("telegram lawyers: ticket %s not up to date yet (%s)", ticket_id, type(exc).__name__)
                await asyncio.to_thread(self.state.save, ticket_id, error=f"{type(exc).__name__}"[:500])
            finally:
                await asyncio.to_thread(self.state.release, ticket_id)
        return done

    async def _catch_up(self, snap: Snapshot) -> None:
        ticket, sync = snap.ticket, snap.sync
        assert ticket.id is not None
        holder_chat = snap.holder_chat
        # 1. A lawyer who no longer holds the chat hears how it ended (resolved, cancelled, transferred …).
        if sync.briefed_lawyer_id is not None and not (holder_chat is not None and ticket.lawyer_id == sync.briefed_lawyer_id):
            if snap.briefed is not None and snap.briefed.telegram_user_id is not None:
                await self._send(snap.briefed.telegram_user_id,
                                 ended_text(ticket, snap.holder.display_name if snap.holder else None))
            await asyncio.to_thread(self.state.unbriefed, ticket.id, sync.briefed_lawyer_id)
            sync.briefed_lawyer_id = None
        # 2. The lawyers' group post.
        if self.group_chat_id is not None:
            await self._update_group(snap)
        if holder_chat is None:
            return
        assert snap.holder is not None and snap.holder.id is not None
        # 3. The lawyer who now holds it gets the packet and transcript ...
        if sync.briefed_lawyer_id != snap.holder.id:
            await self._send(holder_chat, briefing(ticket, snap.channel, snap.messages, snap.notes))
            upto = max((m.id or 0 for m in snap.messages), default=0)
            await asyncio.to_thread(self.state.briefed, ticket.id, snap.holder.id, upto)
            sync.forwarded_upto = upto
            sync.briefed_lawyer_id = snap.holder.id
        # 4. ... and from then on every message the citizen sends.
        else:
            active = snap.holder.telegram_ticket_id
            for message in snap.messages:
                if message.direction != "in" or (message.id or 0) <= sync.forwarded_upto:
                    continue
                switch = [] if active == ticket.id else [(f"回复 #{ticket.id}", f"{USE}{ticket.id}")]
                await self._send(holder_chat, forwarded_text(ticket.id, message), switch)
                assert message.id is not None
                await asyncio.to_thread(self.state.save, ticket.id, forwarded_upto=message.id)
                sync.forwarded_upto = message.id
        # 5. The SLA reminder of a quiet chat.
        if ticket.reminded_at is not None and ticket.reminded_at != sync.reminded_at:
            await self._send(holder_chat, f"⏰ 工单 #{ticket.id} 的市民在等您的回复。",
                             [(f"回复 #{ticket.id}", f"{USE}{ticket.id}")])
            await asyncio.to_thread(self.state.save, ticket.id, reminded_at=ticket.reminded_at)

    async def _update_group(self, snap: Snapshot) -> None:
        ticket, sync = snap.ticket, snap.sync
        assert ticket.id is not None and self.group_chat_id is not None
        wanted, shown = group_state(ticket), sync.group_shown
        if wanted == shown:
            return
        if wanted in ("waiting", "escalated"):
            if sync.group_message_id is not None and shown not in (None, "closed"):
                await self._edit(self.group_chat_id, sync.group_message_id, superseded(ticket, shown, wanted))
            posted = await self._send(self.group_chat_id, group_post(ticket, snap.channel, wanted),
                                      [("接手", f"{CLAIM}{ticket.id}")])
            await asyncio.to_thread(self.state.save, ticket.id, group_message_id=posted, group_shown=wanted)
            return
        if sync.group_message_id is not None and shown not in (None, "closed"):
            name = snap.holder.display_name if snap.holder else None
            await self._edit(self.group_chat_id, sync.group_message_id, group_post(ticket, snap.channel, wanted, name))
        await asyncio.to_thread(self.state.save, ticket.id, group_shown=wanted)

    async def _send(self, chat_id: int, text: str, buttons: list[tuple[str, str]] | None = None,
                    force_reply: bool = False) -> int | None:
        """Send ``text`` (in pieces if long); the last piece's id, or None when Telegram refuses it for good
        (the bot was blocked or removed: logged, not retried). Errors that may pass are raised."""

        pieces = split_text(text)
        sent: TelegramMessage | None = None
        try:
            for index, piece in enumerate(pieces):
                last = index == len(pieces) - 1
                markup = ForceReply(input_field_placeholder="处理摘要") if force_reply else _markup(buttons or [])
                sent = await self.bot.send_message(chat_id=chat_id, text=piece, reply_markup=markup if last else None)
        except (Forbidden, BadRequest) as exc:
            log.error("telegram lawyers: chat %s refused a message (%s: %s)", chat_id, type(exc).__name__, exc.message)
            return None
        return sent.message_id if sent is not None else None

    async def _edit(self, chat_id: int, message_id: int, text: str) -> None:
        try:
            await self.bot.edit_message_text(text=text, chat_id=chat_id, message_id=message_id, reply_markup=None)
        except (Forbidden, BadRequest) as exc:  # deleted, too old, unchanged: the new state is posted anyway
            log.info("telegram lawyers: could not edit post %s (%s)", message_id, exc.message)

    # ---- taking lawyers' actions in ----------------------------------------------------------------

    async def from_group(self, update: Update) -> None:
        """The lawyers' group: Claim presses and /queue; other messages there are the lawyers' own talk."""
        query = update.callback_query
        if query is None:
            command, _ = command_of(update.message.text or "" if update.message is not None else "")
            if command == "queue":
                await self._post_queue()
            return
        if not query.data or query.from_user is None:
            return
        if query.data.startswith(CLAIM):
            await self._claim(query, query.data.removeprefix(CLAIM))
        else:
            await self._answer(query, "这个按钮在群里没有作用。")

    async def from_lawyer(self, update: Update, lawyer: Lawyer | None) -> None:
        """A private chat with the bot from a linked lawyer, or a /link from anyone."""
        user = update.effective_user
        if user is None:
            return
        query = update.callback_query
        if query is not None:
            if lawyer is None:
                await self._answer(query, NOT_LINKED, alert=True)
                return
            await self._touch(lawyer)
            await self._pressed(query, lawyer)
            return
        message = update.message
        if message is None:
            return
        command, args = command_of(message.text or "")
        if command:
            if command == "start" and args.startswith("link-"):
                command, args = "link", args.removeprefix("link-")
            if command == "link":
                await self._link(user.id, args)
                return
            if lawyer is None:
                return
            await self._touch(lawyer)
            await self._command(lawyer, command, args)
            return
        text = args
        if lawyer is None:
            return
        await self._touch(lawyer)
        asked = message.reply_to_message
        summarised = summary_for(asked.text or "") if asked is not None and asked.from_user is not None \
            and asked.from_user.is_bot else None
        if summarised is not None:  # the answer to "请回复这条消息，写下处理摘要": never forwarded to the citizen
            await self._resolve(lawyer, summarised[0], summarised[1], text)
            return
        if not text:
            await self._say(lawyer, "目前只能转发文字消息给市民，请用文字回复。")
            return
        await self._reply(lawyer, text)

    async def _link(self, telegram_user_id: int, code: str) -> None:
        lawyer = await asyncio.to_thread(redeem_telegram_link, self.store, code, telegram_user_id)
        if lawyer is None:
            await self._send(telegram_user_id, "绑定码无效或已过期（有效期15分钟，只能用一次）。请在律师工作台重新获取。")
            return
        where = "律师群里有新工单时点「接手」即可认领。" if self.group_chat_id is not None else "发送 /next 领取下一个工单。"
        await self._send(telegram_user_id, f"已绑定律师账号：{lawyer.display_name}（{lawyer.username}）。{where}\n\n{HELP}")
        await self._lawyer_menu(telegram_user_id, linked=True)
        self.wake()  # chats this lawyer already holds are briefed here now

    async def _command(self, lawyer: Lawyer, command: str, args: str) -> None:
        if command == "next":
            view = await asyncio.to_thread(self.queue.claim_next, lawyer)
            if view is None:
                await self._say(lawyer, "现在没有等待中的工单。")
            else:
                await self._told(view.ticket.id or 0)
                self.wake()
        elif command == "tickets":
            await self._list(lawyer)
        elif command == "use":
            await self._use(lawyer, args.lstrip("#"))
        elif command == "packet":
            await self._repeat_briefing(lawyer)
        elif command == "note":
            await self._act(lawyer, lambda ticket_id: self.queue.add_note(ticket_id, lawyer, args), "已添加备注（仅律师可见）。")
        elif command == "resolve":
            await self._resolve_command(lawyer, args)
        elif command == "release":
            await self._act(lawyer, lambda ticket_id: self.queue.transfer(ticket_id, lawyer, None), None)
        elif command == "transfer":
            if not args:
                await self._say(lawyer, "请写上同事的用户名，例如：/transfer zhang")
            else:
                await self._act(lawyer, lambda ticket_id: self.queue.transfer(ticket_id, lawyer, args.split()[0]), None)
        elif command == "unlink":
            await asyncio.to_thread(unlink_telegram, self.store, lawyer.id or 0)
            await self._say(lawyer, "已解除绑定。您认领的工单仍可在律师工作台处理。")
            if lawyer.telegram_user_id is not None:
                await self._lawyer_menu(lawyer.telegram_user_id, linked=False)
        else:
            await self._say(lawyer, HELP)

    async def _pressed(self, query: Any, lawyer: Lawyer) -> None:
        data = str(query.data or "")
        if data.startswith(CLAIM):
            await self._claim(query, data.removeprefix(CLAIM))
        elif data.startswith(USE):
            await self._answer(query, None)
            await self._use(lawyer, data.removeprefix(USE))
        elif data.startswith(RESOLVE):
            await self._answer(query, None)
            ticket, _, outcome = data.removeprefix(RESOLVE).partition(":")
            if ticket.isdigit() and outcome in {o.value for o in LAWYER_OUTCOMES}:
                await self._resolve(lawyer, int(ticket), Outcome(outcome), "")
        else:
            await self._answer(query, None)

    async def _post_queue(self) -> None:
        """/queue in the group: the waiting chats, most urgent first, each with a claim button."""
        assert self.group_chat_id is not None
        waiting = await asyncio.to_thread(self.queue.tickets, (TicketStatus.waiting,), QUEUE_SHOWN + 1)
        if not waiting:
            await self._send(self.group_chat_id, "队列里没有等待中的咨询。")
            return
        lines = [f"等待接手的咨询（{'前 ' + str(QUEUE_SHOWN) + ' 个' if len(waiting) > QUEUE_SHOWN else len(waiting)}）："]
        buttons = []
        for view in waiting[:QUEUE_SHOWN]:
            tk = view.ticket
            urgent = "🔴 " if tk.priority == Priority.urgent else ""
            lines.append(f"{urgent}#{tk.id} {_label(tk.topic, Topic)} · 已等待 {_minutes(tk.created_at)} 分钟")
            buttons.append((f"接手 #{tk.id}", f"{CLAIM}{tk.id}"))
        await self._send(self.group_chat_id, "\n".join(lines), buttons)

    async def _claim(self, query: Any, ticket: str) -> None:
        lawyer = await asyncio.to_thread(lawyer_by_telegram, self.store, query.from_user.id)
        if lawyer is None:
            await self._answer(query, NOT_LINKED, alert=True)
            return
        if not ticket.isdigit():
            await self._answer(query, "这个按钮已失效。", alert=True)
            return
        await self._touch(lawyer)
        try:
            await asyncio.to_thread(self.queue.claim, int(ticket), lawyer)
        except HandoffError as exc:
            await self._answer(query, str(exc), alert=True)
            return
        await self._answer(query, f"您已接手工单 #{ticket}，请到与我的私聊中和市民交流。")
        await self._told(int(ticket))
        self.wake()  # the group post changes and the packet goes to the lawyer now, not in a few seconds

    async def _reply(self, lawyer: Lawyer, text: str) -> None:
        ticket_id = lawyer.telegram_ticket_id
        if ticket_id is None:
            await self._say(lawyer, "您现在没有正在处理的工单。在律师群里点「接手」，或发送 /next 领取一个。")
            return
        try:
            await asyncio.to_thread(self.queue.reply, ticket_id, lawyer, text)
        except HandoffError as exc:
            await self._say(lawyer, f"没有发出：{exc}。发送 /tickets 查看您的工单。")
            return
        await self._told(ticket_id)

    async def _act(self, lawyer: Lawyer, action: Callable[[int], Any], done: str | None) -> None:
        """Run a queue action on the lawyer's current chat; a refusal is told to them, not raised."""
        ticket_id = lawyer.telegram_ticket_id
        if ticket_id is None:
            await self._say(lawyer, "您现在没有正在处理的工单。发送 /tickets 查看。")
            return
        try:
            await asyncio.to_thread(action, ticket_id)
        except HandoffError as exc:
            await self._say(lawyer, f"没有完成：{exc}")
            return
        if done:
            await self._say(lawyer, done)
        self.wake()

    async def _resolve_command(self, lawyer: Lawyer, args: str) -> None:
        ticket_id = lawyer.telegram_ticket_id
        if ticket_id is None:
            await self._say(lawyer, "您现在没有正在处理的工单。发送 /tickets 查看。")
            return
        outcome, summary = parse_resolve(args)
        if outcome is None:
            hint = f"不认识结果「{args.split()[0]}」。" if args else ""
            await self._say(lawyer, f"{hint}请选择工单 #{ticket_id} 的结案结果（也可以发送 /resolve 已解答 简要说明）：",
                            [(OUTCOME_LABELS[o], f"{RESOLVE}{ticket_id}:{o.value}") for o in LAWYER_OUTCOMES])
            return
        await self._resolve(lawyer, ticket_id, outcome, summary)

    async def _resolve(self, lawyer: Lawyer, ticket_id: int, outcome: Outcome, written: str) -> None:
        """Resolve with the summary the lawyer wrote (outcome tags in it as #标签); without one, ask for it."""
        tags, summary = workbench.tags_in(written)
        if len(summary) < workbench.MIN_SUMMARY:
            if ticket_id not in await asyncio.to_thread(self._claimed_by, lawyer):
                await self._say(lawyer, f"没有结案：#{ticket_id} 不是您正在处理的工单。发送 /tickets 查看。")
                return
            if lawyer.telegram_user_id is not None:
                await self._send(lawyer.telegram_user_id,
                                 summary_request(ticket_id, outcome, "摘要太短。" if written.strip() else ""),
                                 force_reply=True)
            return
        try:
            await asyncio.to_thread(self.queue.resolve, ticket_id, lawyer, outcome.value, summary, False, tags)
        except HandoffError as exc:
            await self._say(lawyer, f"没有结案：{exc}")
            return
        await self._told(ticket_id)
        self.wake()  # the confirmation and the group post come from sync

    async def _use(self, lawyer: Lawyer, ticket: str) -> None:
        mine = await asyncio.to_thread(self._claimed_by, lawyer)
        if not ticket.isdigit() or int(ticket) not in mine:
            await self._say(lawyer, f"#{ticket} 不是您正在处理的工单。发送 /tickets 查看。")
            return
        await asyncio.to_thread(self._set_current, lawyer, int(ticket))
        await self._say(lawyer, f"现在您发送的文字会转给工单 #{ticket} 的市民。")

    async def _list(self, lawyer: Lawyer) -> None:
        mine = await asyncio.to_thread(self._claimed_by, lawyer)
        waiting = await asyncio.to_thread(self.queue.tickets, (TicketStatus.waiting,))
        lines = [f"队列中等待：{len(waiting)} 个。" + ("发送 /next 领取。" if waiting else "")]
        if not mine:
            lines.append("您现在没有正在处理的工单。")
        buttons = []
        for ticket_id, summary in mine.items():
            current = "（当前）" if ticket_id == lawyer.telegram_ticket_id else ""
            lines.append(f"#{ticket_id}{current} {summary}")
            if not current:
                buttons.append((f"切换到 #{ticket_id}", f"{USE}{ticket_id}"))
        await self._say(lawyer, "\n".join(lines), buttons)

    async def _repeat_briefing(self, lawyer: Lawyer) -> None:
        ticket_id = lawyer.telegram_ticket_id
        snap = await asyncio.to_thread(self.state.snapshot, ticket_id) if ticket_id else None
        if snap is None or snap.holder_chat is None or snap.holder is None or snap.holder.id != lawyer.id:
            await self._say(lawyer, "您现在没有正在处理的工单。发送 /tickets 查看。")
            return
        await self._say(lawyer, briefing(snap.ticket, snap.channel, snap.messages, snap.notes))

    # ---- small helpers -----------------------------------------------------------------------------

    def _claimed_by(self, lawyer: Lawyer) -> dict[int, str]:
        with self.store.session() as session:
            rows = session.exec(
                select(HandoffTicket).where(HandoffTicket.lawyer_id == lawyer.id,
                                            HandoffTicket.status == TicketStatus.claimed)
                .order_by(col(HandoffTicket.claimed_at))
            ).all()
            return {t.id: f"{_label(t.topic, Topic)} · {str((t.packet or {}).get('first_message') or '')[:40]}"
                    for t in rows if t.id is not None}

    def _set_current(self, lawyer: Lawyer, ticket_id: int) -> None:
        with self.store.session() as session:
            session.execute(sql_update(Lawyer).where(col(Lawyer.id) == lawyer.id).values(telegram_ticket_id=ticket_id))
            session.commit()

    async def _told(self, ticket_id: int) -> None:
        if self._citizen_told is not None:
            try:
                await self._citizen_told(ticket_id)
            except Exception:  # the relay sends it on its next pass
                log.exception("telegram lawyers: could not send ticket %s's message at once", ticket_id)

    async def _touch(self, lawyer: Lawyer) -> None:
        await asyncio.to_thread(self.queue.touch, lawyer)

    async def _say(self, lawyer: Lawyer, text: str, buttons: list[tuple[str, str]] | None = None) -> None:
        """An immediate answer to a lawyer's own action: not stored, so a failure is only logged."""
        if lawyer.telegram_user_id is None:
            return
        try:
            await self._send(lawyer.telegram_user_id, text, buttons)
        except TelegramError as exc:
            log.warning("telegram lawyers: could not answer lawyer %s (%s)", lawyer.id, type(exc).__name__)

    async def _answer(self, query: Any, text: str | None, alert: bool = False) -> None:
        try:
            await query.answer(text=text, show_alert=alert)
        except TelegramError as exc:
            log.warning("telegram lawyers: answerCallbackQuery failed (%s)", type(exc).__name__)
