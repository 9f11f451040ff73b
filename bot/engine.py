"""The channel-agnostic core: an incoming message in, stored decisions and outgoing messages out.

The engine does no network I/O. Channels turn their updates into ``Incoming`` and deliver the
stored outgoing messages; the engine never imports a channel, and a channel never decides.

Every message goes the same way, on every channel and worker:

1. ``accept`` stores it (holding the citizen), so an acknowledged message is never lost;
2. ``drain`` processes the citizen's unprocessed messages in arrival order, holding the citizen, and
   marks each processed in the transaction that stores its replies: exactly once across workers.
   Short fragments of a burst ("在吗", "我想问个事") are held up to ``burst_window_seconds`` and read
   together with the question that follows;
3. ``process_backlog`` (at start-up and every ``inbox_interval_seconds``) drains what nobody did:
   fragments whose window passed, and messages whose worker was killed.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from bot import actions
from bot.conversations import (
    add_message,
    close_conversation,
    get_or_create_citizen,
    open_conversation,
    set_status,
    sweep,
)
from bot.policy import MAX_PROCESSED_CHARS, VAGUE_CHARS, Decision, Policy
from bot.replies import t
from bot.settings import Settings
from bot.store import Citizen, Conversation, Feedback, HandoffTicket, Message, Store, lock_citizen, utcnow
from bot.taxonomy import (
    Act,
    ConversationStatus,
    Kind,
    Outcome,
    Priority,
    Service,
    TicketStatus,
    Topic,
    display_name,
)
from calculators.conversation import CalcDesk, detect
from handoff import waiting
from handoff.packet import build_packet
from handoff.queue import REOPEN, continues, enqueue, in_service_hours, open_ticket, position
from knowledge_base.faq import Entry
from knowledge_base.index import IndexUnavailable, KnowledgeBase
from nlu.classifier import Classifier
from nlu.text import content_chars, has_meaningful_text, is_chinese, text_language
from nlu.urgency import KINDS as URGENCY_KINDS
from services import desk

log = logging.getLogger(__name__)


MAX_STORED_CHARS = 20_000
#: Fragments of one burst are read as one question, joined with this.
FRAGMENT_JOIN = "，"
#: The payload prefix of a "did you mean" question: ``/faq:<entry id>``, or ``/faq:none``.
SUGGESTED = "/faq:"
#: Related questions offered as buttons under an answer.
RELATED = 3


SMALL_TALK = {Act.greet, Act.thanks, Act.goodbye, Act.affirm, Act.deny, Act.chitchat}


@dataclass
class Incoming:
    """One thing a citizen did, as a channel reports it."""

    channel: str
    user_id: str
    text: str = ""
    #: A pressed button's payload (``/lawyer``, ``/topic:labor`` …); typed commands are found by the engine.
    payload: str | None = None
    kind: Kind | str = Kind.text
    channel_message_id: str | None = None
    #: The citizen's language as the platform reports it (first contact only), or a web page's choice.
    language: str | None = None
    #: A shared location (``Kind.location``); only the nearest centre is kept, not the coordinates.
    latitude: float | None = None
    longitude: float | None = None
    #: What a ``Kind.media`` message was (photo, voice …), kept for the transcript.
    media: str | None = None
    #: The file the channel downloaded and saved for it (services/attachments.py), when an office awaits one.
    attachment_id: int | None = None


@dataclass
class Reply:
    conversation_id: int
    incoming: Message
    messages: list[Message]
    status: str
    #: The message is stored and will be answered together with what the citizen writes next.
    pending: bool = False
    #: Texts to show the citizen that are deliberately not stored (the confirmation of a data deletion).
    notices: list[str] = field(default_factory=list)


@dataclass
class Accepted:
    citizen_id: int
    conversation_id: int
    message: Message
    held: bool


def _pending_comment(session: Session, citizen: Citizen) -> Feedback | None:
    """The comment the citizen offered to write after rating, if they have not written it yet."""
    since = utcnow() - dt.timedelta(minutes=30)
    return session.exec(
        select(Feedback).join(Conversation, col(Conversation.id) == Feedback.conversation_id)
        .where(Conversation.citizen_id == citizen.id, Feedback.kind == "comment", col(Feedback.comment).is_(None),
               col(Feedback.created_at) >= since)
        .order_by(col(Feedback.id).desc())
    ).first()


def _group_text(group: list[Message]) -> str:
    """Fragments of one burst, read as one question."""
    return FRAGMENT_JOIN.join(m.text for m in group if m.text.strip()) if len(group) > 1 else group[-1].text


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _looks_english(text: str | None) -> bool:
    return bool(text) and not is_chinese(text or "") and sum(ch.isalpha() for ch in text or "") >= 8


def _button(label: str, payload: str) -> dict[str, str]:
    return {"label": label, "payload": payload}


_PAYLOAD_LABELS = {"/helpful": "btn_helpful", "/not_helpful": "btn_not_helpful", "/lawyer": "btn_lawyer",
                   "/cancel": "btn_cancel", "/topic:none": "btn_other", "/comment": "btn_comment", "/menu": "btn_menu",
                   actions.DELETE: "btn_delete", actions.DELETE_CONFIRM: "btn_confirm_delete",
                   actions.DELETE_CANCEL: "btn_keep", **actions.MENU_LABELS}


def pressed_label(payload: str, lang: str) -> str:
    """What a citizen chose, as a lawyer reads it in the transcript: the button's label, not its payload.

    An unknown payload (a WeChat menu key, a stale button) is kept as it came.
    """
    if payload in _PAYLOAD_LABELS:
        return t(_PAYLOAD_LABELS[payload], lang)
    name, _, value = payload.partition(":")
    if name == "/topic" and value in {topic.value for topic in Topic}:
        return display_name(Topic(value), lang)
    if payload.startswith(actions.LANGUAGE_PREFIX) and value in ("zh", "en"):
        return {"zh": "中文", "en": "English"}[value]
    if name == "/rate" and value.isdigit() and 1 <= int(value) <= 5:
        return "★" * int(value)  # the rating buttons' label (handoff.queue)
    return payload


def _answer_text(entry: Entry, lang: str, next_step: bool = True) -> list[str]:
    """An entry as the citizen reads it: the answer, its legal basis, the next step."""
    text = [entry.answer]
    if entry.legal_basis:
        text.append(t("legal_basis", lang) + entry.basis_text())
    if next_step:
        text.append(t("next_step", lang) + entry.next_step)
    return text


def emergency_kinds(reasons: list[str]) -> list[str]:
    """The kinds of danger whose first aid the reply gives, most specific first, at most two."""
    kinds = [r for r in dict.fromkeys(reasons) if r in URGENCY_KINDS][:2]
    return kinds or ["learned"]


class Engine:
    def __init__(self, store: Store, classifier: Classifier, kb: KnowledgeBase, settings: Settings) -> None:
        self.store = store
        self.classifier = classifier
        self.kb = kb
        self.settings = settings
        self.policy = Policy(classifier, kb, settings)
        self.desk = desk.Desk(settings)
        self.calculators = CalcDesk(settings.calculator_figures)

    # ---- pure decision (bot/policy.py) -----------------------------------------------------------

    def decide(self, text: str, topic: Topic | None = None, clarified: bool = False, safe: bool = False) -> Decision:
        return self.policy.decide(text, topic=topic, clarified=clarified, safe=safe)

    def is_fragment(self, text: str) -> bool:
        """Whether to hold a message for the rest of a burst; if deciding fails, it is not held (it is
        stored and then processed, where a failure gets an apology)."""
        try:
            return self.policy.is_fragment(text)
        except Exception:
            log.warning("could not tell whether a message is a fragment; answering it on its own", exc_info=True)
            return False

    def warm_up(self) -> None:
        """Load the models and the index now, so the first citizen does not wait for them."""
        self.decide("公司拖欠工资怎么办")

    # ---- the way in ----------------------------------------------------------------------------

    def handle(self, incoming: Incoming) -> Reply:
        """Store the message, then process what the citizen has waiting; the reply to this message.

        If storing fails the exception propagates (nothing was kept, so the channel must not say it
        was). A failure while processing leaves the message stored, marked failed, with an apology."""
        payload = incoming.payload or (actions.command_payload(incoming.text) or desk.keyword(incoming.text)
                                       or CalcDesk.keyword(incoming.text) if incoming.text else None)
        if payload == actions.DELETE_CONFIRM:
            return self._delete_data(incoming)
        if payload == actions.UNSUBSCRIBE and not self._known(incoming):
            return Reply(0, Message(conversation_id=0, citizen_id=0, direction="in", sender="citizen"), [],
                         ConversationStatus.closed.value)  # leaving before ever writing: nothing to keep
        accepted = self.accept(incoming, payload)
        if not accepted.held:
            self.drain(accepted.citizen_id)
        return self.reply_to(accepted.message.id or 0, accepted.conversation_id)

    def _known(self, incoming: Incoming) -> bool:
        with self.store.session() as session:
            return session.exec(select(Citizen.id).where(Citizen.channel == incoming.channel,
                                                         Citizen.channel_user_id == incoming.user_id)).first() is not None

    def accept(self, incoming: Incoming, payload: str | None = None) -> Accepted:
        """Store one incoming message (the first thing that happens to it)."""
        kind = Kind(incoming.kind) if incoming.kind in Kind.__members__ else Kind.media
        text = incoming.text or ""
        decision: dict[str, Any] | None = None
        held = False
        if payload:
            kind = Kind.button if kind is Kind.text and incoming.payload else (
                Kind.command if kind is Kind.text else kind)
            decision = {"payload": payload}
        elif kind is Kind.location:
            decision = actions.locate(self.settings.city_file, incoming.latitude, incoming.longitude)
        elif kind is Kind.media:
            decision = {"media": incoming.media or str(incoming.kind)}
            if incoming.attachment_id is not None:
                decision["attachment"] = incoming.attachment_id
        elif kind is Kind.text and self.is_fragment(text) and not self._filling_in(incoming):
            held, decision = True, {"fragment": True}  # (an answer to a form is never part of a burst)
        with self.store.session() as session:
            citizen = get_or_create_citizen(session, incoming.channel, incoming.user_id, incoming.language)
            assert citizen.id is not None
            if self.store.is_postgres:  # read again, holding the citizen (SQLite's write lock came first)
                lock_citizen(session, citizen.id)
                session.refresh(citizen)
            citizen.last_inbound_at = utcnow()
            if citizen.notice_shown_at is None and incoming.language is None and kind is Kind.text \
                    and _looks_english(text):
                citizen.language = "en"
            session.add(citizen)
            if payload and (kind is Kind.button or (kind is Kind.event and not text)):
                text = self._pressed_label(payload, citizen.language)  # the transcript shows the label
            awaited = _pending_comment(session, citizen) if kind is Kind.text else None
            # A comment on a finished consultation belongs to it, not to a new conversation.
            conversation = (session.get(Conversation, awaited.conversation_id) if awaited else None) or \
                open_conversation(session, citizen)
            stored = add_message(
                session, conversation, direction="in", sender="citizen", kind=kind.value,
                # PostgreSQL text cannot hold NUL; keep a visible marker instead of losing the message.
                text=text[:MAX_STORED_CHARS].replace("\x00", "\ufffd"), decision=decision,
                channel_message_id=incoming.channel_message_id,
            )
            session.commit()
            assert conversation.id is not None
            return Accepted(citizen.id, conversation.id, stored, held)

    def _filling_in(self, incoming: Incoming) -> bool:
        """Whether the citizen is filling in a form: "张三", "3" are its answers, not a burst's first words."""
        with self.store.reader() as session:
            citizen = session.exec(select(Citizen).where(Citizen.channel == incoming.channel,
                                                         Citizen.channel_user_id == incoming.user_id)).first()
            return citizen is not None and self.desk.fresh_draft(session, citizen) is not None

    def _pressed_label(self, payload: str, lang: str) -> str:
        if desk.handles(payload):
            return desk.pressed_label(payload) or payload
        if CalcDesk.handles(payload):
            return CalcDesk.pressed_label(payload, lang) or payload
        if payload.startswith(SUGGESTED):
            entry = self.kb.get(payload.removeprefix(SUGGESTED))
            if entry is not None:
                return entry.question
            if payload == SUGGESTED + "none":
                return t("btn_none_fit", lang)
            if payload == SUGGESTED + "more":
                return t("btn_more", lang)
        return pressed_label(payload, lang)

    def reply_to(self, message_id: int, conversation_id: int) -> Reply:
        """What was said in answer to one stored message (or nothing yet, if it is held)."""
        with self.store.reader() as session:
            message = session.get(Message, message_id)
            if message is None:  # the citizen's data was deleted meanwhile
                return Reply(conversation_id, Message(conversation_id=conversation_id, citizen_id=0, direction="in",
                                                      sender="citizen"), [], ConversationStatus.closed.value)
            answered_with = (message.decision or {}).get("read_with", message.id)
            replies = session.exec(
                select(Message).where(Message.reply_to == answered_with).order_by(col(Message.id))
            ).all() if message.processed_at or message.failed else []
            conversation = session.get(Conversation, message.conversation_id)
            status = conversation.status if conversation else ConversationStatus.bot.value
            return Reply(message.conversation_id, message, list(replies), status,
                         pending=message.processed_at is None and not message.failed)

    # ---- processing, one citizen at a time -------------------------------------------------------

    def drain(self, citizen_id: int, force: bool = False) -> int:
        """Process the citizen's unprocessed messages in arrival order; returns how many groups.

        Each group is processed in its own transaction holding the citizen, and marked processed in
        it, so whichever worker gets there first answers it and the others find nothing to do. A
        trailing run of fragments waits for its window unless ``force``."""
        groups = 0
        while True:
            self._prepare(citizen_id, force)
            with self.store.session() as session:
                lock_citizen(session, citizen_id)
                group, more = self._next_group(session, citizen_id, force)
                if not group:
                    session.commit()
                    return groups
                ids = [m.id for m in group]
                try:
                    with session.begin_nested():
                        self._process_group(session, group)
                    session.commit()
                except Exception:
                    log.exception("failed to process messages %s", ids)
                    session.rollback()
                    self._apologise(citizen_id, [i for i in ids if i is not None])
                groups += 1
                if not more:  # what arrives now is drained by its own request, or by the inbox
                    return groups

    def _prepare(self, citizen_id: int, force: bool) -> None:
        """Classify and retrieve for the next group before holding the citizen (the slow part), so
        that holding the citizen — on SQLite, the database — takes only the database work. If the
        conversation moves on meanwhile, the decision is not used and is made again."""
        with self.store.reader() as session:
            group, _ = self._next_group(session, citizen_id, force)
            last = group[-1] if group else None
            conversation = session.get(Conversation, last.conversation_id) if last else None
        if last is None or conversation is None or last.kind != Kind.text or \
                conversation.status not in (ConversationStatus.bot, ConversationStatus.clarifying):
            return
        text = _group_text(group)
        if has_meaningful_text(text):
            try:
                self.policy.prepare(text, clarified=conversation.status == ConversationStatus.clarifying)
            except Exception:  # decided again while holding the citizen, where a failure is answered
                log.warning("deciding ahead failed; deciding while holding the citizen instead", exc_info=True)

    def _next_group(self, session: Session, citizen_id: int, force: bool) -> tuple[list[Message], bool]:
        """The next messages to read together, and whether more wait behind them."""
        pending = session.exec(
            select(Message).where(Message.citizen_id == citizen_id, Message.direction == "in",
                                  col(Message.processed_at).is_(None), col(Message.failed).is_(False))
            .order_by(col(Message.id))
        ).all()
        group: list[Message] = []
        for message in pending:
            group.append(message)
            if not (message.decision or {}).get("fragment"):
                return group, len(pending) > len(group)
        window = dt.timedelta(seconds=self.settings.burst_window_seconds)
        if group and (force or utcnow() - _aware(group[-1].created_at) >= window):
            return group, False
        return [], False

    def _process_group(self, session: Session, group: list[Message]) -> None:
        last = group[-1]
        citizen = session.get(Citizen, last.citizen_id)
        conversation = session.get(Conversation, last.conversation_id)
        assert citizen is not None and conversation is not None
        now = utcnow()
        awaited = _pending_comment(session, citizen) if last.kind == Kind.text else None
        is_comment = awaited is not None and awaited.conversation_id == conversation.id
        if conversation.status == ConversationStatus.closed and not is_comment:
            # Written before an earlier message of the burst ended the conversation: a new one.
            conversation = open_conversation(session, citizen)
            for message in group:
                message.conversation_id = conversation.id or 0
                session.add(message)
        for message in group[:-1]:
            message.decision = {**(message.decision or {}), "read_with": last.id}
            message.processed_at = now
            session.add(message)
        text = _group_text(group)
        self._process(session, citizen, conversation, last, text, awaited if is_comment else None)
        last.processed_at = now
        session.add(last)

    def _apologise(self, citizen_id: int, message_ids: list[int]) -> None:
        """The messages stay stored (marked failed) and the citizen hears that something went wrong."""
        with self.store.session() as session:
            lock_citizen(session, citizen_id)
            messages = [m for i in message_ids if (m := session.get(Message, i)) is not None]
            citizen = session.get(Citizen, citizen_id)
            if not messages or citizen is None:
                session.commit()
                return
            for message in messages:
                message.failed = True
                session.add(message)
            conversation = session.get(Conversation, messages[-1].conversation_id)
            assert conversation is not None
            apology = add_message(session, conversation, direction="out", sender="bot",
                                  text=t("error", citizen.language), decision={"error": True})
            apology.reply_to = messages[-1].id
            session.commit()

    def process_backlog(self, now: dt.datetime | None = None) -> int:
        """Drain every citizen whose messages nobody processed: held fragments whose window has
        passed, and messages a killed worker left. Returns how many groups were processed."""
        cutoff = (now or utcnow()) - dt.timedelta(seconds=self.settings.burst_window_seconds)
        with self.store.session() as session:
            rows = session.exec(
                select(Message.citizen_id, func.max(Message.created_at))
                .where(Message.direction == "in", col(Message.processed_at).is_(None),
                       col(Message.failed).is_(False))
                .group_by(col(Message.citizen_id))
            ).all()
            session.commit()
        done = 0
        for citizen_id, newest in rows:
            if _aware(newest) <= cutoff:
                done += self.drain(citizen_id, force=True)
        if done:
            log.info("processed %d waiting message groups", done)
        return done

    def _delete_data(self, incoming: Incoming) -> Reply:
        """Deleting one's data: nothing is stored about it, the confirmation is sent and forgotten."""
        with self.store.session() as session:
            lang = session.exec(
                select(Citizen.language).where(Citizen.channel == incoming.channel,
                                               Citizen.channel_user_id == incoming.user_id)
            ).first() or incoming.language or "zh"
            deleted = actions.delete_citizen_data(session, incoming.channel, incoming.user_id,
                                                  data_dir=self.settings.data_dir)
            session.commit()
        if deleted:
            self.store.purge_deleted()  # no copy of the deleted rows left in SQLite's WAL file
        notice = t("deleted" if deleted else "nothing_to_delete", lang)
        empty = Message(conversation_id=0, citizen_id=0, direction="in", sender="citizen")
        return Reply(0, empty, [], ConversationStatus.closed.value, notices=[notice])

    def _process(self, session: Session, citizen: Citizen, conversation: Conversation, message: Message,
                 text: str, awaited: Feedback | None) -> list[Message]:
        out: list[Message] = []
        lang = citizen.language
        if message.kind == Kind.text and (_looks_english(text) or is_chinese(text)):
            lang = text_language(text)  # a reply is in the language of the message it answers

        notice_due = citizen.notice_shown_at is None

        def say(reply: str, buttons: list[dict[str, str]] | None = None, sender: str = "bot",
                decision: dict[str, Any] | None = None, emergency: bool = False) -> None:
            nonlocal notice_due
            if notice_due and not emergency:
                show_notice()  # first contact: the notice first, unless what follows is about danger
            sent = add_message(session, conversation, direction="out", sender=sender, text=reply,
                               buttons=buttons, decision=decision)
            sent.reply_to = message.id
            out.append(sent)

        def show_notice() -> None:
            nonlocal notice_due
            notice_due = False
            citizen.notice_shown_at = utcnow()
            session.add(citizen)
            say(t("notice", lang), sender="system")

        try:
            self._respond(session, citizen, conversation, message, text, awaited, lang, say)
        finally:
            if notice_due:
                show_notice()  # after the emergency text, or when nothing else was said
        return out

    def _respond(self, session: Session, citizen: Citizen, conversation: Conversation, message: Message,
                 text: str, awaited: Feedback | None, lang: str, say: Any) -> None:
        self.desk.catch_up(session, citizen, say)  # application news a channel could not deliver before
        payload = (message.decision or {}).get("payload") if message.kind in (Kind.button, Kind.command,
                                                                                Kind.event) else None
        if payload:
            self._payload(session, citizen, conversation, payload, lang, say)
            return
        if awaited is not None and text.strip():
            awaited.comment = text.strip()[:2000]
            session.add(awaited)
            message.decision = {"feedback_comment": True}
            say(t("comment_thanks", lang))
            return
        if message.kind == Kind.location:
            say(actions.located_reply(message.decision or {}, lang))
            if (message.decision or {}).get("centre") and conversation.pending_outcome is None:
                conversation.pending_outcome = Outcome.referred.value  # sent to a service centre
                session.add(conversation)
            return
        if message.kind == Kind.media and self.desk.material(session, citizen, message, say):
            return  # a photo of a document an office asked for
        if message.kind != Kind.text:
            message.decision = {**(message.decision or {}), "rejected": "unsupported_kind"}
            if conversation.status != ConversationStatus.with_lawyer:
                say(t("no_text", lang))
            return

        status = ConversationStatus(conversation.status)
        if status is ConversationStatus.with_lawyer:
            return  # the lawyer reads it in the console
        if self._for_desk(session, citizen, conversation, message, text, say):
            return
        if self._for_calculator(conversation, message, text, lang, say):
            return
        if not has_meaningful_text(text):
            message.decision = {"rejected": "empty" if not text.strip() else "no_words"}
            if status is not ConversationStatus.waiting:
                say(t("empty", lang))
            return
        front = actions.front_desk(text)
        if front is not None:  # "你们几点上班", "最近的法律服务中心在哪": about the service, not the law
            message.decision = {"front_desk": front}
            if front == "centres":  # the city's and the districts' centres; the rest by district
                say(actions.centres_reply(self.settings.city_file, lang),
                    buttons=[_button("按区县找服务点", desk.CENTRES)] if lang == "zh" else None)
            else:
                say(t("hours", lang, hours=self.settings.service_hours,
                      days=actions.days_text(self.settings.service_days, lang)))
            return
        if status is ConversationStatus.waiting:
            ticket = open_ticket(session, conversation.id or 0)
            if ticket is not None and ticket.priority == Priority.urgent:
                say(t("urgent_still_waiting", lang), emergency=True, buttons=[_button(t("btn_cancel", lang), "/cancel")])
            elif ticket is not None:
                self._answer_while_waiting(conversation, text, lang, say)
                ahead = position(session, ticket)
                say(t("still_waiting", lang, ahead=ahead), buttons=[_button(t("btn_cancel", lang), "/cancel")])
            return

        answer = actions.safety_answer(text)  # a cheap look first: the database only for a short answer
        if answer is not None and self._pending_check(session, conversation) is not None:
            message.decision = {"safety_answer": answer}
            self._payload(session, citizen, conversation, answer, lang, say)
            return
        if len(text) > MAX_PROCESSED_CHARS:
            say(t("too_long", lang))
        clarified = status is ConversationStatus.clarifying
        decision = self.decide(text, clarified=clarified)
        previous = self.kb.get(conversation.last_faq_id) if conversation.last_faq_id and not clarified else None
        # A message the bot can answer on its own is a new question, never overridden by the context.
        unsure = decision.action in ("suggest", "clarify", "handoff") and \
            decision.reason in ("unsure", "vague", "ambiguous", "no_entry")
        if previous is not None and unsure:
            # "那如果他不给呢", "要多少钱" after an answer: read with the question just answered
            decision = self.policy.follow_up(text, previous) or decision
        message.decision = decision.record()
        session.add(message)
        kinds = detect(text) if decision.action != "safety_check" and not decision.classification.urgent else ()
        if kinds:  # "干了8年被辞退能赔多少": worked out, not looked up
            message.decision = {**message.decision, "calculator": list(kinds)}
            self._classified(session, conversation, decision)
            self.calculators.offer(kinds, text, conversation, lang, say)
            session.add(conversation)
            return
        if decision.action == "safety_check" and self._pending_check(session, conversation) is not None:
            # Asked already and the citizen wrote more that again reads like danger: do not ask twice.
            kind = decision.classification.triage.check_kind or "learned"
            self._hand_off(session, conversation, "urgent", {**message.decision, "urgent_reasons": [kind]}, True,
                           [kind], lang, say)
            return
        self._act(session, conversation, decision, lang, say, text=text)
        self.desk.remind_draft(session, citizen, say)

    def _for_desk(self, session: Session, citizen: Citizen, conversation: Conversation, message: Message, text: str,
                  say: Any) -> bool:
        """Whether the desk took the text: an answer to the form being filled in, or a comment on a rating.
        Danger comes first: a message that reads as danger leaves the form waiting and is answered as such."""
        if self.desk.fresh_draft(session, citizen) is not None and content_chars(text) >= VAGUE_CHARS:
            decision = self.decide(text)
            if decision.action == "safety_check" or decision.classification.urgent:
                return False
        if not self.desk.text(session, citizen, conversation, text, say):
            return False
        message.decision = {"application": "answer"}  # what was typed stays in the form, not in the NLU logs
        return True

    def _for_calculator(self, conversation: Conversation, message: Message, text: str, lang: str, say: Any) -> bool:
        """Whether the text answers the calculation being asked about. Danger comes first: a message that reads
        as danger leaves the calculation waiting and is answered as such."""
        if not conversation.calculation:
            return False
        if content_chars(text) >= VAGUE_CHARS:
            decision = self.decide(text)
            if decision.action == "safety_check" or decision.classification.urgent:
                return False
        if not self.calculators.text(conversation, text, lang, say):
            return False
        message.decision = {"calculator": "answer"}  # the figures typed stay with the calculation, not the NLU logs
        return True

    def _classified(self, session: Session, conversation: Conversation, decision: Decision) -> None:
        conversation.service = decision.classification.service.value
        conversation.topic = decision.classification.topic.value
        session.add(conversation)

    def _act(self, session: Session, conversation: Conversation, decision: Decision, lang: str, say: Any,
             text: str) -> None:
        """Carry out a decision on a question: answer, clarify, ask whether the citizen is safe, hand off."""
        c = decision.classification

        if decision.action == "safety_check":
            say(t("safety_check", lang), emergency=True,
                buttons=[_button(t("btn_danger", lang), actions.DANGER), _button(t("btn_safe", lang), actions.SAFE)],
                decision={"action": "safety_check", "kind": c.triage.check_kind or "learned"})
            return
        if decision.action != "handoff" and c.act in SMALL_TALK | {Act.out_of_scope}:
            self._small_talk(session, conversation, c.act, lang, say)
            return
        self._classified(session, conversation, decision)
        if decision.action == "answer" and decision.hit is not None:
            self._answer(session, conversation, [h.entry for h in decision.parts] or [decision.hit.entry],
                         decision.hit.score, lang, say)
        elif decision.action == "clarify":
            conversation.clarify_text = text[:MAX_PROCESSED_CHARS]
            set_status(session, conversation, ConversationStatus.clarifying)
            buttons = [_button(display_name(tp, lang), f"/topic:{tp.value}") for tp in c.top_topics(3)]
            buttons += [_button(t("btn_other", lang), "/topic:none"), _button(t("btn_lawyer", lang), "/lawyer")]
            say(t("clarify", lang), buttons=buttons, decision={"action": "clarify"})
        elif decision.action == "suggest":
            conversation.clarify_text = text[:MAX_PROCESSED_CHARS]
            set_status(session, conversation, ConversationStatus.clarifying)
            first = decision.reason != "more"  # "none of these" under the first offer shows the next ones
            buttons = [_button(h.entry.question, SUGGESTED + h.entry.id) for h in decision.suggestions]
            offer = self.desk.offer(c.service.value) if lang == "zh" and \
                c.service_confidence >= desk.OFFER_CONFIDENCE else None
            buttons += [*([offer] if offer else []),  # "我想申请法律援助，怎么弄": the form itself, beside the FAQ
                        _button(t("btn_more" if first else "btn_none_fit", lang), SUGGESTED + ("more" if first else "none")),
                        _button(t("btn_lawyer", lang), "/lawyer")]
            say(t("suggest" if first else "suggest_more", lang), buttons=buttons,
                decision={"action": "suggest", "suggestions": [h.entry.id for h in decision.suggestions]})
        else:
            self._hand_off(session, conversation, decision.reason, decision.record(), c.urgent,
                           c.triage.urgent_reasons, lang, say)

    def _pending_check(self, session: Session, conversation: Conversation) -> Message | None:
        """The safety question, if it is the bot's latest word in this conversation."""
        last = session.exec(
            select(Message).where(Message.conversation_id == conversation.id, Message.direction == "out",
                                  Message.sender == "bot")
            .order_by(col(Message.id).desc()).limit(1)
        ).first()
        return last if last is not None and (last.decision or {}).get("action") == "safety_check" else None

    def _checked(self, session: Session, conversation: Conversation, payload: str, lang: str, say: Any) -> None:
        """The citizen's answer to "are you safe now?": danger is urgent at once; safe goes on with the question."""
        check = self._pending_check(session, conversation)
        asked = session.get(Message, check.reply_to) if check is not None and check.reply_to else None
        kind = (check.decision or {}).get("kind", "learned") if check is not None else "learned"
        if payload == actions.DANGER:
            record = dict(asked.decision or {}) if asked is not None else {}
            record.update(urgent=True, urgent_reasons=[kind], safety_check="danger")
            self._hand_off(session, conversation, "urgent", record, True, [kind], lang, say)
        elif asked is not None and asked.text:
            say(t("safe_noted", lang))
            decision = self.decide(asked.text, clarified=conversation.status == ConversationStatus.clarifying,
                                   safe=True)
            self._act(session, conversation, decision, lang, say, text=asked.text)
        else:
            say(t("safe_noted", lang))

    def _small_talk(self, session: Session, conversation: Conversation, act: Act, lang: str, say: Any) -> None:
        if act is Act.greet:
            buttons = [_button(display_name(tp, lang), f"/topic:{tp.value}") for tp in actions.COMMON_TOPICS]
            say(t("greet", lang), buttons=buttons + [_button(t("btn_services", lang), desk.SERVICES)])
        elif act is Act.goodbye:
            say(t("goodbye", lang))
            outcome = Outcome(conversation.pending_outcome) if conversation.pending_outcome else Outcome.abandoned
            close_conversation(session, conversation, outcome, "goodbye")
        elif act is Act.out_of_scope:
            say(t("out_of_scope", lang))
            if conversation.pending_outcome is None:
                conversation.pending_outcome = Outcome.out_of_scope.value
                session.add(conversation)
        else:
            say(t(act.value, lang))

    def _answer(self, session: Session, conversation: Conversation, entries: list[Entry], score: float, lang: str,
                say: Any) -> None:
        """Show one entry, or several questions' entries as titled parts, with related questions."""
        parts = []
        for n, entry in enumerate(entries, start=1):
            part = _answer_text(entry, lang)
            if len(entries) > 1:  # several questions in one message: one part each, titled
                part.insert(0, t("part_title", lang, n=n, question=entry.question))
            parts.append("\n\n".join(part))
        parts.append(t("answer_footer", lang))
        last = entries[-1]
        conversation.pending_outcome = Outcome.answered.value
        conversation.last_faq_id = last.id
        conversation.clarify_text = None
        set_status(session, conversation, ConversationStatus.bot)
        related = [_button(t("related", lang, question=e.question), SUGGESTED + e.id)
                   for e in self.kb.related(last.id, RELATED) if e not in entries]
        offer = self.desk.offer(last.service.value) if lang == "zh" else None  # the forms are in Chinese
        if offer is not None:  # an answer about one of the bureau's services: "要现在申请吗？"
            parts.insert(-1, "要现在申请吗？点“" + offer["label"] + "”，在这里一步步填写即可。")
        say("\n\n".join(parts),
            buttons=[*([offer] if offer else []), _button(t("btn_helpful", lang), "/helpful"),
                     _button(t("btn_not_helpful", lang), "/not_helpful"), _button(t("btn_lawyer", lang), "/lawyer"),
                     *related],
            decision={"action": "answer", "faq_id": entries[0].id, "score": round(score, 4),
                      **({"parts": [e.id for e in entries]} if len(entries) > 1 else {})})

    def _answer_while_waiting(self, conversation: Conversation, text: str, lang: str, say: Any) -> None:
        """A question asked while waiting for a lawyer is answered when the bot is sure of it; the
        conversation stays in the queue and the lawyer reads both in the transcript."""
        if content_chars(text) < VAGUE_CHARS:
            return
        decision = self.decide(text)
        if decision.action != "answer" or decision.hit is None:
            return
        entry = decision.hit.entry
        parts = [t("meanwhile", lang), *_answer_text(entry, lang, next_step=False), t("answer_footer", lang)]
        say("\n\n".join(parts), decision={"action": "answer", "faq_id": entry.id, "score": round(decision.hit.score, 4),
                                          "while_waiting": True})

    def _hand_off(self, session: Session, conversation: Conversation, reason: str, record: dict[str, Any] | None,
                  urgent: bool, urgent_reasons: list[str], lang: str, say: Any) -> None:
        if open_ticket(session, conversation.id or 0) is not None:
            return
        if urgent:
            conversation.urgent = True
            for kind in emergency_kinds(urgent_reasons):
                say(t("emergency_" + kind, lang), emergency=True, decision={"action": "handoff", "reason": reason,
                                                                            "kind": kind})
        elif reason.startswith("complex"):
            say(t("handoff_complex", lang))
        elif reason in ("unclear_after_clarifying", "none_fit", "no_entry"):
            say(t("handoff_" + {"unclear_after_clarifying": "unclear"}.get(reason, reason), lang))
        conversation.pending_outcome = None
        packet = build_packet(session, conversation, reason, record)
        ticket = enqueue(session, conversation, urgent=urgent, reason=reason.split(":")[0], packet=packet)
        if urgent:  # never told that others are ahead: danger goes first
            say(t("urgent_handoff", lang), emergency=True, buttons=[_button(t("btn_cancel", lang), "/cancel")],
                decision={"action": "handoff", "ticket": ticket.id})
            if not in_service_hours(self.settings):
                say(t("urgent_out_of_hours", lang), emergency=True)
            return
        ahead = position(session, ticket)
        now = waiting.local_now(self.settings)
        wait = waiting.estimate(session, self.settings, ahead, now)
        if not wait.on_duty:  # when lawyers are back, never minutes that the hours would contradict
            text = t("handoff_off_duty", lang, hours=self.settings.service_hours, ahead=ahead,
                     back=waiting.when(wait.back_at, now, lang))
        elif wait.low is None:
            close = waiting.closing(self.settings, now)
            text = t("handoff_after_closing", lang, ahead=ahead, close=close.strftime("%H:%M") if close else "",
                     back=waiting.when(wait.back_at, now, lang))
        else:
            text = t("handoff", lang, ahead=ahead, low=wait.low, high=wait.high)
        say(text, buttons=[_button(t("btn_cancel", lang), "/cancel")],
            decision={"action": "handoff", "ticket": ticket.id, "wait": [wait.low, wait.high]})

    def _payload(self, session: Session, citizen: Citizen, conversation: Conversation, payload: str, lang: str,
                 say: Any) -> None:
        status = ConversationStatus(conversation.status)
        if desk.handles(payload):
            self.desk.payload(session, citizen, conversation, payload, say)
        elif CalcDesk.handles(payload):
            if status in (ConversationStatus.bot, ConversationStatus.clarifying):
                self.calculators.payload(conversation, payload, lang, say)
                session.add(conversation)
        elif payload in ("/helpful", "/not_helpful"):
            helpful = payload == "/helpful"
            session.add(Feedback(conversation_id=conversation.id or 0, kind="helpful" if helpful else "not_helpful",
                                 faq_id=conversation.last_faq_id))
            if helpful:
                say(t("helpful_thanks", lang))
            else:
                if conversation.pending_outcome == Outcome.answered:
                    conversation.pending_outcome = None
                    session.add(conversation)
                say(t("not_helpful", lang), buttons=[_button(t("btn_lawyer", lang), "/lawyer")])
        elif payload == actions.MENU:  # /start, "菜单", the WeChat menu button, subscribing
            self._small_talk(session, conversation, Act.greet, lang, say)
        elif payload in actions.SERVICES_MENU:  # 法律咨询 … 我的咨询, from any channel's menu
            self._services_menu(session, citizen, payload, lang, say)
        elif payload in (actions.DANGER, actions.SAFE):
            if status in (ConversationStatus.bot, ConversationStatus.clarifying):
                self._checked(session, conversation, payload, lang, say)
        elif payload == "/lawyer":
            if status in (ConversationStatus.waiting, ConversationStatus.with_lawyer):
                return
            self._hand_off(session, conversation, "asked_for_human", None, False, [], lang, say)
        elif payload == "/cancel":
            ticket = open_ticket(session, conversation.id or 0)
            if status is ConversationStatus.waiting and ticket is not None:
                close_conversation(session, conversation, Outcome.withdrawn, "citizen_cancelled",
                                   ticket_status=TicketStatus.cancelled)
                say(t("withdrawn", lang))
        elif payload.startswith("/topic:"):
            self._picked_topic(session, conversation, payload.split(":", 1)[1], lang, say)
        elif payload.startswith(SUGGESTED):
            self._picked_question(session, conversation, payload.removeprefix(SUGGESTED), lang, say)
        elif payload.startswith(REOPEN):
            self._reopen(session, citizen, conversation, payload.removeprefix(REOPEN), lang, say)
        elif payload.startswith("/rate:"):
            self._rate(session, citizen, payload.split(":", 1)[1], lang, say)
        elif payload == "/comment":
            self._ask_comment(session, citizen, lang, say)
        elif payload == actions.HELP and status in (ConversationStatus.bot, ConversationStatus.clarifying) \
                and self._pending_check(session, conversation) is not None:
            self._checked(session, conversation, actions.DANGER, lang, say)  # "help" when asked "are you safe?"
        elif payload == actions.HELP:
            say(*actions.help_reply(lang))
        elif payload == actions.PRIVACY:
            say(*actions.privacy_reply(lang))
        elif payload == actions.LANGUAGE:
            say(*actions.language_reply(lang))
        elif payload.startswith(actions.LANGUAGE_PREFIX):
            say(actions.set_language(session, citizen, payload))
        elif payload == actions.DELETE:
            say(*actions.confirm_delete_reply(lang))
        elif payload == actions.DELETE_CANCEL:
            say(t("delete_cancelled", lang))
        elif payload == actions.UNSUBSCRIBE:
            return  # recorded for the lawyer; nothing can reach the citizen any more
        else:
            say(t("empty", lang))

    def _services_menu(self, session: Session, citizen: Citizen, payload: str, lang: str, say: Any) -> None:
        if payload == actions.MINE:
            say(*actions.mine_reply(session, citizen, lang, self.settings.timezone), decision={"menu": "mine"})
        elif payload == actions.GUIDE:
            say(*actions.guide_reply(lang))
        elif payload == actions.CONSULT:
            say(*actions.consult_reply(lang))
        else:
            service, _ = actions.MENU_SERVICES[payload]
            say(*actions.service_reply(payload, lang, [_button(e.question, SUGGESTED + e.id)
                                                       for e in self._service_questions(service, lang)]))

    def _service_questions(self, service: Service, lang: str, k: int = 3) -> list[Entry]:
        """The knowledge base's questions about one of the bureau's services, in the citizen's language: the
        service's own entries (``legal_aid-…``) and general ones (topic ``other``) first."""
        try:
            entries = self.kb.index.entries
        except IndexUnavailable:  # no index yet: the menu still offers the form and a lawyer
            log.warning("no knowledge base index for the services menu")
            return []
        about = [e for e in entries if e.service is service and e.lang == lang]
        about.sort(key=lambda e: (not e.id.startswith(service.value + "-"), e.topic is not Topic.other))
        return about[:k]

    def _picked_topic(self, session: Session, conversation: Conversation, slug: str, lang: str, say: Any) -> None:
        question = conversation.clarify_text
        if slug == "none":
            self._hand_off(session, conversation, "unclear_after_clarifying", None, False, [], lang, say)
            return
        try:
            topic = Topic(slug)
        except ValueError:
            say(t("empty", lang))
            return
        conversation.topic = topic.value
        session.add(conversation)
        if not question or content_chars(question) < VAGUE_CHARS:  # a category picked from the menu, or
            # after "我想咨询个事": ask for the details
            say(t("affirm", lang))
            return
        decision = self.decide(question, topic=topic, clarified=True)
        self._act(session, conversation, decision, lang, say, text=question)

    def _picked_question(self, session: Session, conversation: Conversation, faq_id: str, lang: str,
                         say: Any) -> None:
        """A "did you mean" question chosen: answer it; "none of these" goes to a lawyer."""
        question = conversation.clarify_text
        if faq_id == "more" and question:
            decision = self.policy.more(question, self._offered(session, conversation))
            if decision is not None:
                self._act(session, conversation, decision, lang, say, text=question)
                return
        if faq_id in ("none", "more"):
            self._hand_off(session, conversation, "none_fit", None, False, [], lang, say)
            return
        entry = self.kb.get(faq_id)
        if entry is None:  # a button from an older knowledge base
            say(t("suggestion_gone", lang), buttons=[_button(t("btn_lawyer", lang), "/lawyer")])
            return
        conversation.service = entry.service.value
        conversation.topic = entry.topic.value
        session.add(conversation)
        self._answer(session, conversation, [entry], 1.0, lang, say)  # the citizen's choice: sure

    def _offered(self, session: Session, conversation: Conversation) -> list[str]:
        """The entries the bot's latest "did you mean" message offered."""
        last = session.exec(
            select(Message).where(Message.conversation_id == conversation.id, Message.direction == "out",
                                  Message.sender == "bot").order_by(col(Message.id).desc()).limit(5)
        ).all()
        for message in last:
            if (message.decision or {}).get("action") == "suggest":
                return list(message.decision.get("suggestions", []))  # type: ignore[union-attr]
        return []

    def _rate(self, session: Session, citizen: Citizen, value: str, lang: str, say: Any) -> None:
        if not value.isdigit() or not 1 <= int(value) <= 5:
            say(t("empty", lang))
            return
        last_closed = session.exec(
            select(Conversation).where(Conversation.citizen_id == citizen.id, Conversation.status == "closed")
            .order_by(col(Conversation.closed_at).desc())
        ).first()
        if last_closed is not None:
            session.add(Feedback(conversation_id=last_closed.id or 0, kind="rating", rating=int(value)))
        say(t("rated", lang), buttons=[_button(t("btn_comment", lang), "/comment")])

    def _reopen(self, session: Session, citizen: Citizen, conversation: Conversation, value: str, lang: str,
                say: Any) -> None:
        """The citizen takes a matter a lawyer closed up again, within LEGALBOT_REOPEN_WINDOW_DAYS: a new
        ticket in this conversation that says which one it continues (the lawyer who had it gets it first)."""
        old = session.get(HandoffTicket, int(value)) if value.isdigit() else None
        ended = session.get(Conversation, old.conversation_id) if old is not None else None
        if old is None or ended is None or ended.citizen_id != citizen.id or old.status != TicketStatus.resolved:
            say(t("empty", lang))
            return
        if ConversationStatus(conversation.status) in (ConversationStatus.waiting, ConversationStatus.with_lawyer):
            return  # already with a lawyer
        days = self.settings.reopen_window_days
        if old.resolved_at is None or utcnow() - old.resolved_at > dt.timedelta(days=days):
            say(t("reopen_too_late", lang, days=days), buttons=[_button(t("btn_lawyer", lang), "/lawyer")])
            return
        conversation.service = conversation.service or old.service
        conversation.topic = conversation.topic or old.topic
        self._hand_off(session, conversation, "reopened", None, False, [], lang, say)
        ticket = open_ticket(session, conversation.id or 0)
        if ticket is not None:
            continues(ticket, old)
            session.add(ticket)

    def _ask_comment(self, session: Session, citizen: Citizen, lang: str, say: Any) -> None:
        last_closed = session.exec(
            select(Conversation).where(Conversation.citizen_id == citizen.id, Conversation.status == "closed")
            .order_by(col(Conversation.closed_at).desc())
        ).first()
        if last_closed is None:
            say(t("empty", lang))
            return
        session.add(Feedback(conversation_id=last_closed.id or 0, kind="comment"))
        say(t("ask_comment", lang))

    # ---- housekeeping --------------------------------------------------------------------------

    def sweep(self, now: Any = None) -> list[int]:
        with self.store.session() as session:
            return sweep(session, bot_minutes=self.settings.idle_timeout_bot_minutes,
                         waiting_minutes=self.settings.idle_timeout_waiting_minutes,
                         lawyer_minutes=self.settings.idle_timeout_lawyer_minutes, now=now)

    def history(self, channel: str, user_id: str, after: int = 0, limit: int = 500) -> tuple[list[Message], str]:
        with self.store.reader() as session:
            citizen = session.exec(
                select(Citizen).where(Citizen.channel == channel, Citizen.channel_user_id == user_id)
            ).first()
            if citizen is None:
                return [], ConversationStatus.bot.value
            messages = session.exec(
                select(Message).where(Message.citizen_id == citizen.id, col(Message.id) > after)
                .order_by(col(Message.id)).limit(limit)
            ).all()
            current = session.exec(
                select(Conversation).where(Conversation.citizen_id == citizen.id)
                .order_by(col(Conversation.id).desc())
            ).first()
            return list(messages), current.status if current else ConversationStatus.bot.value
