"""What a ticket looks like to lawyers on Telegram: group posts, briefings, forwarded lines."""

from __future__ import annotations

import datetime as dt
import logging
import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.redact import redact
from bot.store import (
    HandoffTicket,
    Message,
    utcnow,
)
from bot.taxonomy import Outcome, Priority, Service, TicketStatus, Topic, display_name
from handoff import workbench
from handoff.queue import LAWYER_OUTCOMES

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
                 "wage_crowd": "群体讨薪", "eviction_today": "即将被驱逐/强拆", "injury_now": "正在受伤/拒绝救治",
                 "elder_abuse": "老人受虐/遗弃", "held_captive": "被限制人身自由", "stalking": "跟踪威胁",
                 "extortion": "正在被敲诈", "proceedings_under_way": "已进入诉讼/仲裁",
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
    "/resolve —— 结案（也可以 /resolve 已解答 处理摘要 #需要回访）\n"
    "/release 退回队列　/transfer 用户名 转给同事\n"
    "/unlink 解除与律师账号的绑定"
)
GROUP_COMMANDS = [("queue", "等待接手的咨询")]
LAWYER_COMMANDS = [("tickets", "我的工单"), ("next", "领取下一个"), ("packet", "当前工单的材料"),
                   ("note", "添加备注"), ("resolve", "结案"), ("release", "退回队列"), ("transfer", "转给同事"),
                   ("help", "律师模式帮助"), ("unlink", "解除绑定")]
NOT_LINKED = "这个 Telegram 账号还没有绑定律师账号。请在律师工作台点「绑定 Telegram」，再把得到的 /link 指令发给我。"




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
        danger = " · 🔴 紧急" if ticket.priority == Priority.urgent else ""
        top = f"⚠️ 超时未接手 {number} · 已等待 {_minutes(ticket.created_at)} 分钟{danger}"
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
        return f"⚠️ #{ticket.id} 超时未接手，已提前到普通咨询之前（见下方新消息）"
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


#: The bot's request for a summary, which the lawyer answers with Telegram's reply: what it resolves is read
#: back from the message replied to, so any worker can take the answer.
SUMMARY_ASKED = "工单 #{ticket} 结案（{outcome}）"
_SUMMARY_ASKED = re.compile(r"^工单 #(\d+) 结案（(.+?)）")


def summary_request(ticket_id: int, outcome: Outcome, problem: str = "") -> str:
    tags = " ".join(f"#{tag}" for tag in workbench.OUTCOME_TAGS.values())
    return (f"{SUMMARY_ASKED.format(ticket=ticket_id, outcome=OUTCOME_LABELS[outcome])}：{problem}"
            f"请回复这条消息，写下处理摘要（至少{workbench.MIN_SUMMARY}个字，市民看不到）。\n"
            f"可在摘要里加结案标签：{tags}")


def summary_for(asked: str) -> tuple[int, Outcome] | None:
    """The ticket and outcome a summary request was about, from its text; None for any other message."""
    found = _SUMMARY_ASKED.match(asked)
    if found is None:
        return None
    outcome = OUTCOME_WORDS.get(found.group(2))
    return (int(found.group(1)), outcome) if outcome is not None else None


def parse_resolve(args: str) -> tuple[Outcome | None, str]:
    """``/resolve`` arguments: an outcome word (slug, label or short form) and an optional summary."""
    word, _, summary = args.strip().partition(" ")
    if not word:
        return None, ""
    return OUTCOME_WORDS.get(word) or OUTCOME_WORDS.get(word.lower()), summary.strip()


