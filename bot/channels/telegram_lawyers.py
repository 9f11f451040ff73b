"""Telegram lawyer mode: the lawyers' group and each lawyer's private chat with the bot.

* Every new ticket is posted to the lawyers' group (``LEGALBOT_TELEGRAM_LAWYERS_CHAT_ID``) with a Claim
  button; an SLA escalation posts it again, marked urgent; a claim or an end edits the post, so the
  group always sees who has which chat.
* A lawyer links their Telegram account once, by sending the bot ``/link CODE`` with a one-time code
  from the console or ``legalbot lawyer telegram-link``. Pressing Claim then claims the chat exactly once
  (the same conditional update as the console).
* The lawyer holding a chat gets the handoff packet and transcript in their private chat with the bot;
  what they write there goes to the citizen on the citizen's own channel, the citizen's messages come to
  them, a quiet chat gets the SLA reminder, and ``/resolve`` closes it with an outcome.

Nothing here is sent straight from the event that causes it. ``LawyerDesk.sync`` compares each ticket
with what Telegram has been shown of it (``TelegramTicketSync``) and sends what is missing, recording
each step as it goes; it runs every few seconds and at once after a claim. So a post, a briefing or a
forwarded message survives a restart or a Telegram outage, and a lease on the row keeps two workers
from sending the same thing.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, or_
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from telegram import BotCommand, BotCommandScopeChat, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram import Message as TelegramMessage
from telegram.error import BadRequest, Forbidden, TelegramError

from bot.redact import redact
from bot.store import (
    Conversation,
    HandoffTicket,
    Lawyer,
    Message,
    Store,
    TelegramTicketSync,
    TicketNote,
    utcnow,
)
from bot.taxonomy import Outcome, Priority, Service, TicketStatus, Topic, display_name
from handoff.auth import lawyer_by_telegram, redeem_telegram_link, unlink_telegram
from handoff.queue import LAWYER_OUTCOMES, HandoffError, HandoffQueue

log = logging.getLogger(__name__)

#: How often ``sync`` runs when nothing wakes it sooner.
SYNC_INTERVAL = 2.0
#: A worker bringing a ticket up to date holds it this long at most.
LEASE = dt.timedelta(seconds=60)
#: The briefing shows this many of the latest messages; the console has the rest.
TRANSCRIPT_MESSAGES = 30
#: /queue in the lawyers' group lists at most this many waiting chats.
QUEUE_SHOWN = 10
#: The citizen's first message in the group post is cut to this many characters.
GROUP_EXCERPT = 200

CLAIM = "/claim:"
USE = "/use:"
RESOLVE = "/resolve:"
OPEN = (TicketStatus.waiting, TicketStatus.claimed)

OUTCOME_LABELS: dict[Outcome, str] = {
    Outcome.resolved_by_lawyer: "已解答",
    Outcome.referred: "已转介",
    Outcome.emergency_referred: "紧急转介",
    Outcome.out_of_scope: "不属于法律问题",
    Outcome.withdrawn: "群众取消",
    Outcome.abandoned: "群众离开",
    Outcome.answered: "已答复",
}
#: What a lawyer may type after /resolve: the slug, the label, or a short word.
OUTCOME_WORDS: dict[str, Outcome] = {
    **{o.value: o for o in LAWYER_OUTCOMES},
    **{OUTCOME_LABELS[o]: o for o in LAWYER_OUTCOMES},
    "解答": Outcome.resolved_by_lawyer, "转介": Outcome.referred, "紧急": Outcome.emergency_referred,
    "不属于": Outcome.out_of_scope, "resolved": Outcome.resolved_by_lawyer,
}
REASON_LABELS = {"urgent": "紧急情况", "asked_for_human": "群众要求人工", "complex": "情况复杂",
                 "unclear_after_clarifying": "追问后仍无法判断", "transfer": "同事转交"}
TRIAGE_LABELS = {"domestic_violence": "家庭暴力", "threat_to_life": "人身威胁", "self_harm": "自伤风险",
                 "child_in_danger": "儿童危险", "just_detained": "刚被羁押", "imminent_deadline": "期限紧迫",
                 "wage_crowd": "群体讨薪", "eviction_today": "当天被驱逐", "proceedings_under_way": "已进入诉讼/仲裁",
                 "asks_for_lawyer": "要求律师", "amount_above_limit": "金额较大", "several_issues": "多个问题",
                 "learned": "模型判断紧急"}
CHANNEL_LABELS = {"web": "网页", "telegram": "Telegram", "wechat": "微信公众号", "terminal": "终端", "test": "测试"}
FACT_LABELS = (("amounts", "金额"), ("dates", "日期"), ("places", "地点"), ("parties", "当事人"))
SENDER_LABELS = {"citizen": "市民", "bot": "助手", "lawyer": "律师", "system": "系统"}
MEDIA_LABELS = {"photo": "图片", "voice": "语音", "video": "视频", "document": "文件", "sticker": "表情",
                "location": "位置", "audio": "音频", "video_note": "视频", "animation": "动图", "contact": "名片"}

HELP = (
    "律师模式\n"
    "· 在律师群里点「接手」认领工单；或发送 /next 领取最适合您的下一个。\n"
    "· 认领后，您在这里发送的文字会转给当前工单的市民，市民的消息也会转到这里。\n"
    "/tickets 我的工单（切换当前工单）\n"
    "/packet 再看一遍当前工单的材料和对话\n"
    "/note 文字 —— 添加仅律师可见的备注\n"
    "/resolve —— 结案（也可以 /resolve 已解答 简要说明）\n"
    "/release 退回队列　/transfer 用户名 转给同事\n"
    "/unlink 解除与律师账号的绑定"
)
GROUP_COMMANDS = [("queue", "等待接手的咨询")]
LAWYER_COMMANDS = [("tickets", "我的工单"), ("next", "领取下一个"), ("packet", "当前工单的材料"),
                   ("note", "添加备注"), ("resolve", "结案"), ("release", "退回队列"), ("transfer", "转给同事"),
                   ("help", "律师模式帮助"), ("unlink", "解除绑定")]
NOT_LINKED = "这个 Telegram 账号还没有绑定律师账号。请在律师工作台点「绑定 Telegram」，再把得到的 /link 指令发给我。"


# ---- what a ticket looks like on Telegram ----------------------------------------------------------


def group_state(ticket: HandoffTicket) -> str:
    """What the lawyers' group post of a ticket should show."""
    if ticket.status == TicketStatus.waiting:
        return "escalated" if ticket.escalated_at is not None else "waiting"
    if ticket.status == TicketStatus.claimed:
        return f"claimed:{ticket.lawyer_id}"
    return "closed"


def _label(slug: str | None, kind: type[Service] | type[Topic]) -> str:
    if not slug:
        return "未分类"
    try:
        return display_name(kind(slug))
    except ValueError:
        return slug


def outcome_label(value: str | None) -> str | None:
    try:
        return OUTCOME_LABELS.get(Outcome(value or ""), value)
    except ValueError:
        return value


def _minutes(since: dt.datetime, now: dt.datetime | None = None) -> int:
    return max(0, int(((now or utcnow()) - since).total_seconds() // 60))


def headline(ticket: HandoffTicket, channel: str) -> str:
    parts = [_label(ticket.topic, Topic), _label(ticket.service, Service),
             "English" if ticket.language == "en" else "中文", CHANNEL_LABELS.get(channel, channel)]
    return " · ".join(parts)


def reasons(ticket: HandoffTicket) -> str:
    packet = ticket.packet or {}
    reason = REASON_LABELS.get(ticket.reason, ticket.reason) if ticket.reason else ""
    flags = [TRIAGE_LABELS.get(r, str(r)) for r in [*packet.get("urgent_reasons", []), *packet.get("complex_reasons", [])]]
    return "；".join(part for part in (reason, "、".join(dict.fromkeys(flags))) if part)


def facts(ticket: HandoffTicket) -> list[str]:
    found = (ticket.packet or {}).get("facts") or {}
    return [f"{label}：{'、'.join(map(str, found[key]))}" for key, label in FACT_LABELS if found.get(key)]


def group_post(ticket: HandoffTicket, channel: str, state: str, lawyer_name: str | None = None) -> str:
    """The lawyers' group post. Personal numbers are masked: the group is wider than the lawyer who claims."""
    number = f"#{ticket.id}"
    if state.startswith("claimed"):
        return f"✅ {number} 已由 {lawyer_name or '一位律师'} 接手\n{headline(ticket, channel)}"
    if state == "closed":
        ended = {TicketStatus.cancelled: "市民已取消", TicketStatus.expired: "已超时关闭"}.get(
            TicketStatus(ticket.status), outcome_label(ticket.outcome) or "已结案")
        return f"☑️ {number} 已结束：{ended}\n{headline(ticket, channel)}"
    if state == "escalated":
        top = f"⚠️ 超时未接手 {number} · 已等待 {_minutes(ticket.created_at)} 分钟，已升为紧急"
    else:
        top = f"🆕 待接手 {number}" + (" · 🔴 紧急" if ticket.priority == Priority.urgent else "")
    lines = [top, headline(ticket, channel)]
    if why := reasons(ticket):
        lines.append(f"原因：{why}")
    first = redact(str((ticket.packet or {}).get("first_message") or "")).strip()
    if first:
        cut = first[:GROUP_EXCERPT] + ("…" if len(first) > GROUP_EXCERPT else "")
        lines.append(f"市民：{cut}")
    lines += [redact(line) for line in facts(ticket)]
    return "\n".join(lines)


def superseded(ticket: HandoffTicket, shown: str | None, state: str) -> str:
    """What an old group post says once a new one replaces it."""
    if state == "escalated" and shown == "waiting":
        return f"⚠️ #{ticket.id} 超时未接手，已升为紧急（见下方新消息）"
    return f"↩️ #{ticket.id} 已退回队列（见下方新消息）"


def message_line(message: Message) -> str:
    when = message.created_at.astimezone().strftime("%H:%M")
    who = SENDER_LABELS.get(message.sender, message.sender)
    text = message.text.strip() or f"（{MEDIA_LABELS.get(message.kind, message.kind)}）"
    pressed = "（按钮）" if message.kind == "button" else ""
    return f"[{when}] {who}{pressed}：{text}"


def briefing(ticket: HandoffTicket, channel: str, messages: list[Message], notes: list[str]) -> str:
    """The packet and transcript for the lawyer who holds the chat, so they never re-ask."""
    urgent = " · 🔴 紧急" if ticket.priority == Priority.urgent else ""
    waited = _minutes(ticket.created_at, ticket.claimed_at or utcnow())
    lines = [f"📋 工单 #{ticket.id}{urgent} · 等待了 {waited} 分钟", headline(ticket, channel)]
    if why := reasons(ticket):
        lines.append(f"转接原因：{why}")
    lines += facts(ticket)
    shown = (ticket.packet or {}).get("faq_shown") or []
    if shown:
        lines.append("已给出的 FAQ 解答：" + "、".join(map(str, shown)))
    lines += [f"备注：{note}" for note in notes]
    lines.append("—— 对话记录 ——")
    if len(messages) > TRANSCRIPT_MESSAGES:
        lines.append(f"（前面还有 {len(messages) - TRANSCRIPT_MESSAGES} 条，完整记录见律师工作台）")
    lines += [message_line(m) for m in messages[-TRANSCRIPT_MESSAGES:]]
    lines.append("——")
    lines.append(f"现在您在这里发送的文字会转给工单 #{ticket.id} 的市民。/resolve 结案 · /note 备注 · /release 退回队列 · /help 帮助")
    return "\n".join(lines)


def ended_text(ticket: HandoffTicket, holder_name: str | None) -> str:
    if ticket.status == TicketStatus.claimed:
        return f"↪️ 工单 #{ticket.id} 已转给 {holder_name or '另一位律师'}，您的消息不会再转给这位市民。"
    if ticket.status == TicketStatus.waiting:
        return f"↩️ 工单 #{ticket.id} 已退回队列。"
    if ticket.status == TicketStatus.cancelled:
        return f"☑️ 市民已取消工单 #{ticket.id}。"
    if ticket.status == TicketStatus.expired:
        return f"☑️ 工单 #{ticket.id} 因长时间没有消息已关闭。"
    return f"☑️ 工单 #{ticket.id} 已结案：{outcome_label(ticket.outcome) or '已结束'}。"


def forwarded_text(ticket_id: int, message: Message) -> str:
    text = message.text.strip() or f"（市民发来了{MEDIA_LABELS.get(message.kind, '一条消息')}，这里只转发文字）"
    pressed = "（按钮）" if message.kind == "button" else ""
    return f"💬 #{ticket_id} 市民{pressed}：{text}"


def _markup(buttons: list[tuple[str, str]]) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=data)] for label, data in buttons])


def parse_resolve(args: str) -> tuple[Outcome | None, str]:
    """``/resolve`` arguments: an outcome word (slug, label or short form) and an optional summary."""
    word, _, summary = args.strip().partition(" ")
    if not word:
        return None, ""
    return OUTCOME_WORDS.get(word) or OUTCOME_WORDS.get(word.lower()), summary.strip()


# ---- the sync state, in worker threads --------------------------------------------------------------


@dataclass
class Snapshot:
    """A ticket and everything needed to bring its Telegram side up to date."""

    ticket: HandoffTicket
    sync: TelegramTicketSync
    channel: str
    holder: Lawyer | None  # the lawyer holding the chat, if any
    briefed: Lawyer | None  # the lawyer whose private chat has it, if any
    messages: list[Message] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def holder_chat(self) -> int | None:
        """The private chat of the lawyer holding the chat, when they are on Telegram."""
        if self.ticket.status != TicketStatus.claimed or self.holder is None:
            return None
        return self.holder.telegram_user_id


def command_of(text: str) -> tuple[str, str]:
    """``/Resolve@some_bot 已解答 说明`` → ``("resolve", "已解答 说明")``; ``("", text)`` for a non-command."""
    text = text.strip()
    if not text.startswith("/"):
        return "", text
    head, _, args = text.partition(" ")
    return head[1:].split("@", 1)[0].lower(), args.strip()


def is_link_command(update: Update) -> bool:
    """``/link CODE`` or ``/start link-CODE`` (the deep link): how a lawyer links their Telegram account."""
    command, args = command_of(update.message.text or "" if update.message is not None else "")
    return command == "link" or (command == "start" and args.startswith("link-"))


def needs_work(ticket: HandoffTicket, sync: TelegramTicketSync | None, holder: Lawyer | None,
               last_citizen_message: int | None, group_on: bool) -> bool:
    """Whether what Telegram shows of this ticket is behind it (cheap: no messages are loaded)."""
    sync = sync or TelegramTicketSync(ticket_id=ticket.id or 0)
    holder_on_telegram = (ticket.status == TicketStatus.claimed and holder is not None
                          and holder.telegram_user_id is not None)
    if group_on and group_state(ticket) != sync.group_shown and not (sync.group_shown is None and ticket.status not in OPEN):
        return True
    if sync.briefed_lawyer_id is not None and not (holder_on_telegram and ticket.lawyer_id == sync.briefed_lawyer_id):
        return True
    if not holder_on_telegram:
        return False
    assert holder is not None
    if sync.briefed_lawyer_id != holder.id:
        return True
    if last_citizen_message is not None and last_citizen_message > sync.forwarded_upto:
        return True
    return ticket.reminded_at is not None and ticket.reminded_at != sync.reminded_at


class SyncState:
    """Reads and writes of ``TelegramTicketSync`` (synchronous; called in worker threads)."""

    def __init__(self, store: Store, group_on: bool) -> None:
        self.store = store
        self.group_on = group_on

    def due(self, limit: int = 200) -> list[int]:
        """Tickets whose Telegram side is behind: open ones, and ended ones still shown as open."""
        with self.store.session() as session:
            rows = session.exec(
                select(HandoffTicket, TelegramTicketSync, Lawyer)
                .join(TelegramTicketSync, col(TelegramTicketSync.ticket_id) == HandoffTicket.id, isouter=True)
                .join(Lawyer, col(Lawyer.id) == HandoffTicket.lawyer_id, isouter=True)
                .where(col(HandoffTicket.status).in_(OPEN)).order_by(col(HandoffTicket.id))
            ).all()
            claimed = [t.conversation_id for t, _, _ in rows if t.status == TicketStatus.claimed]
            last_in: dict[int, int] = {}
            if claimed:
                last_in = {conversation_id: last or 0 for conversation_id, last in session.exec(
                    select(Message.conversation_id, func.max(Message.id))
                    .where(col(Message.conversation_id).in_(claimed), Message.direction == "in")
                    .group_by(col(Message.conversation_id))
                ).all()}
            behind: list[Any] = [col(TelegramTicketSync.briefed_lawyer_id).is_not(None)]
            if self.group_on:
                behind.append(and_(col(TelegramTicketSync.group_shown).is_not(None),
                                   col(TelegramTicketSync.group_shown) != "closed"))
            ended = session.exec(
                select(HandoffTicket.id).join(TelegramTicketSync, col(TelegramTicketSync.ticket_id) == HandoffTicket.id)
                .where(col(HandoffTicket.status).not_in(OPEN), or_(*behind)).limit(limit)
            ).all()
        due = [t.id for t, sync, holder in rows
               if t.id is not None and needs_work(t, sync, holder, last_in.get(t.conversation_id), self.group_on)]
        return (due + [i for i in ended if i is not None])[:limit]

    def lease(self, ticket_id: int) -> bool:
        """Take the ticket for this worker; False while another one has it."""
        now = utcnow()
        with self.store.session() as session:
            if session.get(TelegramTicketSync, ticket_id) is None:
                session.add(TelegramTicketSync(ticket_id=ticket_id))
                try:
                    session.commit()
                except IntegrityError:  # another worker created it first
                    session.rollback()
            result = session.execute(
                sql_update(TelegramTicketSync)
                .where(col(TelegramTicketSync.ticket_id) == ticket_id,
                       or_(col(TelegramTicketSync.lease_until).is_(None), col(TelegramTicketSync.lease_until) < now))
                .values(lease_until=now + LEASE)
            )
            session.commit()
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def release(self, ticket_id: int) -> None:
        self.save(ticket_id, lease_until=None)

    def save(self, ticket_id: int, **values: Any) -> None:
        with self.store.session() as session:
            session.execute(sql_update(TelegramTicketSync)
                            .where(col(TelegramTicketSync.ticket_id) == ticket_id).values(**values))
            session.commit()

    def snapshot(self, ticket_id: int) -> Snapshot | None:
        with self.store.session() as session:
            ticket = session.get(HandoffTicket, ticket_id)
            sync = session.get(TelegramTicketSync, ticket_id)
            if ticket is None or sync is None:
                return None
            conversation = session.get(Conversation, ticket.conversation_id)
            holder = session.get(Lawyer, ticket.lawyer_id) if ticket.lawyer_id else None
            briefed = session.get(Lawyer, sync.briefed_lawyer_id) if sync.briefed_lawyer_id else None
            snap = Snapshot(ticket, sync, conversation.channel if conversation else "", holder, briefed)
            if snap.holder_chat is not None:
                snap.messages = list(session.exec(
                    select(Message).where(Message.conversation_id == ticket.conversation_id).order_by(col(Message.id))
                ).all())
                snap.notes = list(session.exec(
                    select(TicketNote.text).where(TicketNote.ticket_id == ticket_id).order_by(col(TicketNote.id))
                ).all())
        return snap

    def briefed(self, ticket_id: int, lawyer_id: int, upto: int) -> None:
        """The lawyer has the packet: forward from here on, and make it the chat they write to."""
        with self.store.session() as session:
            session.execute(sql_update(TelegramTicketSync).where(col(TelegramTicketSync.ticket_id) == ticket_id)
                            .values(briefed_lawyer_id=lawyer_id, forwarded_upto=upto, error=None))
            session.execute(sql_update(Lawyer).where(col(Lawyer.id) == lawyer_id).values(telegram_ticket_id=ticket_id))
            session.commit()

    def unbriefed(self, ticket_id: int, lawyer_id: int) -> None:
        """The lawyer no longer holds the chat; what they write goes to another chat of theirs, if any."""
        with self.store.session() as session:
            session.execute(sql_update(TelegramTicketSync).where(col(TelegramTicketSync.ticket_id) == ticket_id)
                            .values(briefed_lawyer_id=None))
            lawyer = session.get(Lawyer, lawyer_id)
            if lawyer is not None and lawyer.telegram_ticket_id == ticket_id:
                lawyer.telegram_ticket_id = session.exec(
                    select(HandoffTicket.id).where(HandoffTicket.lawyer_id == lawyer_id,
                                                   HandoffTicket.status == TicketStatus.claimed,
                                                   HandoffTicket.id != ticket_id)
                    .order_by(col(HandoffTicket.claimed_at).desc())
                ).first()
                session.add(lawyer)
            session.commit()


# ---- the desk ----------------------------------------------------------------------------------------


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

    async def _send(self, chat_id: int, text: str, buttons: list[tuple[str, str]] | None = None) -> int | None:
        """Send ``text`` (in pieces if long); the last piece's id, or None when Telegram refuses it for good
        (the bot was blocked or removed: logged, not retried). Errors that may pass are raised."""
        from bot.channels.telegram import split_text

        pieces = split_text(text)
        sent: TelegramMessage | None = None
        try:
            for index, piece in enumerate(pieces):
                last = index == len(pieces) - 1
                sent = await self.bot.send_message(chat_id=chat_id, text=piece,
                                                   reply_markup=_markup(buttons or []) if last else None)
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
            if ticket.isdigit():
                await self._resolve(lawyer, int(ticket), outcome, "")
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
        await self._resolve(lawyer, ticket_id, outcome.value, summary)

    async def _resolve(self, lawyer: Lawyer, ticket_id: int, outcome: str, summary: str) -> None:
        try:
            await asyncio.to_thread(self.queue.resolve, ticket_id, lawyer, outcome, summary)
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
