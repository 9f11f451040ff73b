"""The channel-agnostic core: an incoming message in, stored decisions and outgoing messages out.

The engine does no network I/O. Channels turn their updates into ``Incoming`` and deliver the
stored outgoing messages; the engine never imports a channel.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, select

from bot.conversations import (
    add_message,
    close_conversation,
    get_or_create_citizen,
    open_conversation,
    set_status,
    sweep,
)
from bot.replies import t
from bot.settings import Settings
from bot.store import Citizen, Conversation, Feedback, Message, Store, utcnow
from bot.taxonomy import Act, ConversationStatus, Outcome, Topic, display_name
from handoff.packet import build_packet
from handoff.queue import enqueue, expected_wait_minutes, in_service_hours, open_ticket, position
from knowledge_base.index import Hit, KnowledgeBase
from nlu.classifier import Classification, Classifier
from nlu.text import has_meaningful_text, is_chinese, normalize

log = logging.getLogger(__name__)

MAX_PROCESSED_CHARS = 2000
MAX_STORED_CHARS = 20_000
TEXT_KINDS = {"text"}
#: How a pressed button (or a typed menu number or shortcut a channel maps to one) is stored.
BUTTON_KIND = "button"
#: How much more retrieval must score when the classifier is unsure of the topic.
AMBIGUITY_EXTRA = 0.05
SMALL_TALK = {Act.greet, Act.thanks, Act.goodbye, Act.affirm, Act.deny, Act.chitchat}


@dataclass
class Incoming:
    channel: str
    user_id: str
    text: str = ""
    payload: str | None = None
    kind: str = "text"
    channel_message_id: str | None = None
    language: str | None = None


@dataclass
class Reply:
    conversation_id: int
    incoming: Message
    messages: list[Message]
    status: str


@dataclass
class Decision:
    """What the bot would do with one question (``legalbot ask --json``), without side effects."""

    text: str
    classification: Classification
    action: str  # answer | clarify | handoff
    reason: str = ""
    hit: Hit | None = None
    hits: list[Hit] = field(default_factory=list)
    ambiguous: bool = False

    def contract(self, lang: str = "zh") -> dict[str, Any]:
        c = self.classification
        entry = self.hit.entry if self.hit and self.action == "answer" else None
        return {
            "text": self.text,
            "service": c.service.value,
            "topic": c.topic.value,
            "urgent": c.urgent,
            "action": self.action,
            "faq_id": entry.id if entry else None,
            "score": round(self.hit.score, 4) if self.hit else None,
            "answer": entry.answer if entry else None,
            "legal_basis": [str(b) for b in entry.legal_basis] if entry else [],
        }

    def record(self) -> dict[str, Any]:
        return {**self.classification.decision(), "action": self.action, "reason": self.reason,
                "ambiguous": self.ambiguous,
                "hits": [h.as_dict() for h in self.hits[:3]]}


def _pending_comment(session: Session, citizen: Citizen) -> Feedback | None:
    """The comment the citizen offered to write after rating, if they have not written it yet."""
    since = utcnow() - dt.timedelta(minutes=30)
    return session.exec(
        select(Feedback).join(Conversation, col(Conversation.id) == Feedback.conversation_id)
        .where(Conversation.citizen_id == citizen.id, Feedback.kind == "comment", col(Feedback.comment).is_(None),
               col(Feedback.created_at) >= since)
        .order_by(col(Feedback.id).desc())
    ).first()


def _looks_english(text: str | None) -> bool:
    return bool(text) and not is_chinese(text or "") and sum(ch.isalpha() for ch in text or "") >= 8


def _button(label: str, payload: str) -> dict[str, str]:
    return {"label": label, "payload": payload}


_PAYLOAD_LABELS = {"/helpful": "btn_helpful", "/not_helpful": "btn_not_helpful", "/lawyer": "btn_lawyer",
                   "/cancel": "btn_cancel", "/topic:none": "btn_other", "/comment": "btn_comment", "/menu": "btn_menu"}


def pressed_label(payload: str, lang: str) -> str:
    """What a citizen chose, as a lawyer reads it in the transcript: the button's label, not its payload.

    An unknown payload (a WeChat menu key, a stale button) is kept as it came.
    """
    if payload in _PAYLOAD_LABELS:
        return t(_PAYLOAD_LABELS[payload], lang)
    name, _, value = payload.partition(":")
    if name == "/topic" and value in {topic.value for topic in Topic}:
        return display_name(Topic(value), lang)
    if name == "/rate" and value.isdigit() and 1 <= int(value) <= 5:
        return "★" * int(value)  # the rating buttons' label (handoff.queue)
    return payload


class Engine:
    def __init__(self, store: Store, classifier: Classifier, kb: KnowledgeBase, settings: Settings) -> None:
        self.store = store
        self.classifier = classifier
        self.kb = kb
        self.settings = settings

    # ---- pure decision -------------------------------------------------------------------------

    def decide(self, text: str, topic: Topic | None = None, clarified: bool = False) -> Decision:
        text = normalize(text)[:MAX_PROCESSED_CHARS]
        c = self.classifier.classify(text)
        if c.urgent:
            return Decision(text, c, "handoff", reason="urgent")
        if c.act is Act.ask_human:
            return Decision(text, c, "handoff", reason="asked_for_human")
        if c.triage.complex:
            return Decision(text, c, "handoff", reason="complex:" + ",".join(c.triage.complex_reasons))
        ambiguous = topic is None and self.ambiguous(c)
        prior = topic or (None if ambiguous else c.topic)
        hits = self.kb.search(text, topic=prior, k=5)
        best = hits[0] if hits else None
        # An unsure classifier needs a clearer retrieval match before the bot answers on its own.
        needed = self.settings.kb_answer_threshold + (AMBIGUITY_EXTRA if ambiguous else 0.0)
        if best and best.score >= needed:
            return Decision(text, c, "answer", reason="retrieved", hit=best, hits=hits, ambiguous=ambiguous)
        if clarified or topic is not None:
            return Decision(text, c, "handoff", reason="unclear_after_clarifying", hit=best, hits=hits,
                            ambiguous=ambiguous)
        return Decision(text, c, "clarify", reason="ambiguous" if ambiguous else "low_confidence", hit=best,
                        hits=hits, ambiguous=ambiguous)

    def ambiguous(self, c: Classification) -> bool:
        """Low topic confidence, or two topics too close to call (LEGALBOT_NLU_* settings)."""
        ranking = c.rankings.topic
        margin = ranking[0][1] - ranking[1][1] if len(ranking) > 1 else 1.0
        return c.topic_confidence < self.settings.nlu_fallback_threshold or margin < self.settings.nlu_ambiguity_margin

    # ---- conversation --------------------------------------------------------------------------

    def handle(self, incoming: Incoming) -> Reply:
        """Store the message first, then process it; a failure still leaves it stored and apologises."""
        with self.store.session() as session:
            citizen = get_or_create_citizen(session, incoming.channel, incoming.user_id, incoming.language)
            citizen.last_inbound_at = utcnow()
            session.add(citizen)
            payload = incoming.payload
            awaited = _pending_comment(session, citizen) if not payload and incoming.kind == "text" else None
            # A comment on a finished consultation belongs to it, not to a new conversation.
            conversation = (session.get(Conversation, awaited.conversation_id) if awaited else None) or \
                open_conversation(session, citizen)
            # A press is stored as its label, for the transcript; the payload stays in the decision.
            # Other kinds (a WeChat menu-click event) keep theirs: the reply window tells them apart.
            kind, decision = incoming.kind, None
            text = incoming.text or ""
            if payload:
                kind = BUTTON_KIND if incoming.kind == "text" else incoming.kind
                text, decision = pressed_label(payload, citizen.language), {"payload": payload}
            stored = add_message(
                session, conversation, direction="in", sender="citizen", kind=kind,
                # PostgreSQL text cannot hold NUL; keep a visible marker instead of losing the message.
                text=text[:MAX_STORED_CHARS].replace("\x00", "\ufffd"), decision=decision,
                channel_message_id=incoming.channel_message_id,
            )
            session.commit()
            assert conversation.id is not None and citizen.id is not None
            conversation_id, citizen_id, message_id = conversation.id, citizen.id, stored.id

        try:
            return self._process_stored(citizen_id, conversation_id, message_id or 0, incoming)
        except Exception:
            log.exception("failed to process message %s", message_id)
            return self._apologise(citizen_id, conversation_id, message_id or 0)

    def _load(self, session: Session, citizen_id: int, conversation_id: int,
              message_id: int) -> tuple[Citizen, Conversation, Message]:
        citizen = session.get(Citizen, citizen_id)
        conversation = session.get(Conversation, conversation_id)
        message = session.get(Message, message_id)
        assert citizen is not None and conversation is not None and message is not None
        return citizen, conversation, message

    def _process_stored(self, citizen_id: int, conversation_id: int, message_id: int, incoming: Incoming) -> Reply:
        with self.store.session() as session:
            citizen, conversation, message = self._load(session, citizen_id, conversation_id, message_id)
            out = self._process(session, citizen, conversation, message, incoming)
            session.commit()
            return Reply(conversation_id, message, out, conversation.status)

    def _apologise(self, citizen_id: int, conversation_id: int, message_id: int) -> Reply:
        """The message stays stored (marked failed) and the citizen hears that something went wrong."""
        with self.store.session() as session:
            citizen, conversation, message = self._load(session, citizen_id, conversation_id, message_id)
            message.failed = True
            session.add(message)
            apology = add_message(session, conversation, direction="out", sender="bot",
                                  text=t("error", citizen.language), decision={"error": True})
            session.commit()
            return Reply(conversation_id, message, [apology], conversation.status)

    def _process(self, session: Session, citizen: Citizen, conversation: Conversation, message: Message,
                 incoming: Incoming) -> list[Message]:
        out: list[Message] = []
        first_contact = citizen.notice_shown_at is None and incoming.language is None
        if first_contact and _looks_english(incoming.text):
            citizen.language = "en"
        lang = citizen.language

        def say(text: str, buttons: list[dict[str, str]] | None = None, sender: str = "bot",
                decision: dict[str, Any] | None = None) -> None:
            out.append(add_message(session, conversation, direction="out", sender=sender, text=text,
                                   buttons=buttons, decision=decision))

        if citizen.notice_shown_at is None:
            citizen.notice_shown_at = utcnow()
            session.add(citizen)
            say(t("notice", lang), sender="system")

        payload = incoming.payload
        if payload:
            self._payload(session, citizen, conversation, payload, lang, say)
            return out

        awaited = _pending_comment(session, citizen) if incoming.kind == "text" else None
        if awaited is not None and awaited.conversation_id == conversation.id and (incoming.text or "").strip():
            awaited.comment = incoming.text.strip()[:2000]
            session.add(awaited)
            message.decision = {"feedback_comment": True}
            say(t("comment_thanks", lang))
            return out

        if incoming.kind not in TEXT_KINDS:
            message.decision = {"rejected": "unsupported_kind", "kind": incoming.kind}
            say(t("no_text", lang))
            return out

        status = ConversationStatus(conversation.status)
        if status is ConversationStatus.with_lawyer:
            return out  # the lawyer reads it in the console
        if not has_meaningful_text(incoming.text or ""):
            message.decision = {"rejected": "empty" if not (incoming.text or "").strip() else "no_words"}
            if status is not ConversationStatus.waiting:
                say(t("empty", lang))
            return out
        if status is ConversationStatus.waiting:
            ticket = open_ticket(session, conversation.id or 0)
            if ticket is not None:
                ahead = position(session, ticket)
                say(t("still_waiting", lang, ahead=ahead), buttons=[_button(t("btn_cancel", lang), "/cancel")])
            return out

        if len(incoming.text) > MAX_PROCESSED_CHARS:
            say(t("too_long", lang))
        clarified = status is ConversationStatus.clarifying
        decision = self.decide(incoming.text, clarified=clarified)
        message.decision = decision.record()
        session.add(message)
        c = decision.classification

        if decision.action != "handoff" and c.act in SMALL_TALK | {Act.out_of_scope}:
            self._small_talk(session, conversation, c.act, lang, say)
            return out
        conversation.service = c.service.value
        conversation.topic = c.topic.value
        session.add(conversation)
        if decision.action == "answer":
            self._answer(session, conversation, decision, lang, say)
        elif decision.action == "clarify":
            conversation.clarify_text = incoming.text[:MAX_PROCESSED_CHARS]
            set_status(session, conversation, ConversationStatus.clarifying)
            buttons = [_button(display_name(tp, lang), f"/topic:{tp.value}") for tp in c.top_topics(3)]
            buttons += [_button(t("btn_other", lang), "/topic:none"), _button(t("btn_lawyer", lang), "/lawyer")]
            say(t("clarify", lang), buttons=buttons, decision={"action": "clarify"})
        else:
            self._hand_off(session, conversation, decision.reason, decision.record(), c.urgent,
                           c.triage.urgent_reasons, lang, say)
        return out

    def _small_talk(self, session: Session, conversation: Conversation, act: Act, lang: str, say: Any) -> None:
        if act is Act.greet:
            buttons = [_button(display_name(tp, lang), f"/topic:{tp.value}")
                       for tp in (Topic.labor, Topic.marriage_family, Topic.debt, Topic.property, Topic.traffic)]
            say(t("greet", lang), buttons=buttons)
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

    def _answer(self, session: Session, conversation: Conversation, decision: Decision, lang: str, say: Any) -> None:
        assert decision.hit is not None
        entry = decision.hit.entry
        parts = [entry.answer]
        if entry.legal_basis:
            parts.append(t("legal_basis", lang) + entry.basis_text())
        parts.append(t("next_step", lang) + entry.next_step)
        parts.append(t("answer_footer", lang))
        conversation.pending_outcome = Outcome.answered.value
        conversation.last_faq_id = entry.id
        conversation.clarify_text = None
        set_status(session, conversation, ConversationStatus.bot)
        say("\n\n".join(parts),
            buttons=[_button(t("btn_helpful", lang), "/helpful"), _button(t("btn_not_helpful", lang), "/not_helpful"),
                     _button(t("btn_lawyer", lang), "/lawyer")],
            decision={"action": "answer", "faq_id": entry.id, "score": round(decision.hit.score, 4)})

    def _hand_off(self, session: Session, conversation: Conversation, reason: str, record: dict[str, Any] | None,
                  urgent: bool, urgent_reasons: list[str], lang: str, say: Any) -> None:
        if open_ticket(session, conversation.id or 0) is not None:
            return
        if urgent:
            conversation.urgent = True
            extra = ""
            if "domestic_violence" in urgent_reasons:
                extra = t("urgent_dv", lang)
            elif "self_harm" in urgent_reasons:
                extra = t("urgent_self_harm", lang)
            elif "threat_to_life" in urgent_reasons or "child_in_danger" in urgent_reasons:
                extra = t("urgent_medical", lang)
            say(t("urgent", lang, extra=extra), decision={"action": "handoff", "reason": reason})
        elif reason.startswith("complex"):
            say(t("handoff_complex", lang))
        elif reason == "unclear_after_clarifying":
            say(t("handoff_unclear", lang))
        conversation.pending_outcome = None
        packet = build_packet(session, conversation, reason, record)
        ticket = enqueue(session, conversation, urgent=urgent, reason=reason.split(":")[0], packet=packet)
        ahead = position(session, ticket)
        say(t("handoff", lang, ahead=ahead, minutes=expected_wait_minutes(session, ahead)),
            buttons=[_button(t("btn_cancel", lang), "/cancel")], decision={"action": "handoff", "ticket": ticket.id})
        if not in_service_hours(self.settings):
            say(t("out_of_hours", lang, hours=self.settings.service_hours))

    def _payload(self, session: Session, citizen: Citizen, conversation: Conversation, payload: str, lang: str,
                 say: Any) -> None:
        status = ConversationStatus(conversation.status)
        if payload in ("/helpful", "/not_helpful"):
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
        elif payload == "/menu":  # /start on Telegram, the menu button on WeChat
            self._small_talk(session, conversation, Act.greet, lang, say)
        elif payload == "/lawyer":
            if status in (ConversationStatus.waiting, ConversationStatus.with_lawyer):
                return
            self._hand_off(session, conversation, "asked_for_human", None, False, [], lang, say)
        elif payload == "/cancel":
            ticket = open_ticket(session, conversation.id or 0)
            if status is ConversationStatus.waiting and ticket is not None:
                ticket.status = "cancelled"
                ticket.resolved_at = utcnow()
                ticket.outcome = Outcome.withdrawn.value
                session.add(ticket)
                close_conversation(session, conversation, Outcome.withdrawn, "citizen_cancelled")
                say(t("withdrawn", lang))
        elif payload.startswith("/topic:"):
            self._picked_topic(session, conversation, payload.split(":", 1)[1], lang, say)
        elif payload.startswith("/rate:"):
            self._rate(session, citizen, payload.split(":", 1)[1], lang, say)
        elif payload == "/comment":
            self._ask_comment(session, citizen, lang, say)
        else:
            say(t("empty", lang))

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
        if not question:  # a category picked from the greeting menu: ask for the details
            say(t("affirm", lang))
            return
        decision = self.decide(question, topic=topic, clarified=True)
        if decision.action == "answer":
            self._answer(session, conversation, decision, lang, say)
        else:
            c = decision.classification
            self._hand_off(session, conversation, decision.reason, decision.record(), c.urgent,
                           c.triage.urgent_reasons, lang, say)

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
        with self.store.session() as session:
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
