"""What to do with one question: answer, suggest, clarify or hand off. Pure: no database, no side effects.

The engine asks it for every text a citizen writes; ``legalbot ask --json`` shows its answer as is.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

from bot.settings import Settings
from bot.taxonomy import Act, Topic
from knowledge_base.faq import Entry
from knowledge_base.index import Hit, KnowledgeBase
from nlu.classifier import Classification, Classifier
from nlu.text import content_chars, has_meaningful_text, normalize, text_language

MAX_PROCESSED_CHARS = 2000
#: How much more retrieval must score when the classifier is unsure of the topic.
AMBIGUITY_EXTRA = 0.05
#: A decision made when a short message arrived is reused when it is processed, if that is this soon.
RECENT_SECONDS = 10.0
RECENT_SIZE = 256
#: A message with fewer letters than this besides the words that only ask ("我想咨询个事") says too
#: little to search with: the citizen is asked which area it concerns.
VAGUE_CHARS = 2
#: A message up to this long, after an answer, may be a follow-up to it.
FOLLOW_UP_CHARS = 20
#: At most this many questions are offered when the bot is not sure enough to answer.
SUGGESTIONS = 3


@dataclass
class Decision:
    """What the bot would do with one question (``legalbot ask --json``), without side effects."""

    text: str
    classification: Classification
    action: str  # answer | suggest | clarify | handoff | safety_check
    reason: str = ""
    hit: Hit | None = None
    hits: list[Hit] = field(default_factory=list)
    ambiguous: bool = False
    #: The entries offered as "did you mean" questions (action ``suggest``), best first.
    suggestions: list[Hit] = field(default_factory=list)
    #: Several questions in one message, answered one part each (action ``answer``), in the order asked.
    parts: list[Hit] = field(default_factory=list)

    def contract(self, lang: str = "zh") -> dict[str, Any]:
        c = self.classification
        entry = self.hit.entry if self.hit and self.action == "answer" else None
        shown = [h.entry for h in self.parts] or ([entry] if entry else [])
        return {
            "text": self.text,
            "service": c.service.value,
            "topic": c.topic.value,
            "urgent": c.urgent,
            "action": self.action,
            "faq_id": entry.id if entry else None,
            "score": round(self.hit.score, 4) if self.hit else None,
            "answer": "\n\n".join(e.answer for e in shown) if shown else None,
            "legal_basis": [str(b) for e in shown for b in e.legal_basis],
            "suggestions": [{"faq_id": h.entry.id, "question": h.entry.question} for h in self.suggestions],
        }

    def record(self) -> dict[str, Any]:
        return {**self.classification.decision(), "action": self.action, "reason": self.reason,
                "ambiguous": self.ambiguous,
                "hits": [h.as_dict() for h in self.hits[:3]],
                **({"suggestions": [h.entry.id for h in self.suggestions]} if self.suggestions else {}),
                **({"parts": [h.entry.id for h in self.parts]} if self.parts else {})}


#: How much closer another of the first hits may read to e5 before the bot stops being sure of the first.
SEMANTIC_TOLERANCE = 0.005


class Policy:
    def __init__(self, classifier: Classifier, kb: KnowledgeBase, settings: Settings) -> None:
        self.classifier = classifier
        self.kb = kb
        self.settings = settings
        self._recent: dict[tuple[str, bool], tuple[float, Decision]] = {}
        # Classifying and retrieving is Python work that holds the GIL: one thread at a time does it,
        # so that the threads holding a citizen (and, on SQLite, the database) are not starved of
        # the GIL by a crowd of others deciding. Throughput is the same: the GIL allowed one anyway.
        self._thinking = threading.Lock()

    def decide(self, text: str, topic: Topic | None = None, clarified: bool = False, safe: bool = False) -> Decision:
        """``safe``: the citizen has answered the safety check with "I am safe"; do not ask again."""
        text = normalize(text)[:MAX_PROCESSED_CHARS]
        if topic is None and not safe:
            fresh = self._recent.pop((text, clarified), None)  # decided a moment ago (``prepare``)
            if fresh is not None and time.monotonic() - fresh[0] < RECENT_SECONDS:
                return fresh[1]
        with self._thinking:
            return self._decide(text, topic, clarified, safe)

    def _decide(self, text: str, topic: Topic | None, clarified: bool, safe: bool = False) -> Decision:
        c = self.classifier.classify(text)
        if c.urgent:
            return Decision(text, c, "handoff", reason="urgent")
        if c.triage.safety_check and not safe:
            # Unsure whether this is danger now: one tap from the citizen beats a guess either way.
            return Decision(text, c, "safety_check", reason="unsure_danger:" + (c.triage.check_kind or "learned"))
        if c.act is Act.ask_human:
            return Decision(text, c, "handoff", reason="asked_for_human")
        if c.triage.complex:
            return Decision(text, c, "handoff", reason="complex:" + ",".join(c.triage.complex_reasons))
        if topic is None and not clarified and len(c.issues) >= 2:
            several = self._several(text, c)
            if several is not None:
                return several
        if topic is None and not clarified and content_chars(text) < VAGUE_CHARS:
            return Decision(text, c, "clarify", reason="vague")
        ambiguous = topic is None and self.ambiguous(c)
        # Only an area the citizen chose lifts its entries: the classifier's guess ranked worse on real
        # questions than the rankings alone.
        hits = self.kb.search(text, topic=topic, k=2 * SUGGESTIONS, lang=text_language(text))
        best = hits[0] if hits else None
        # An unsure classifier needs a clearer retrieval match before the bot answers on its own.
        needed = self.settings.kb_answer_threshold + (AMBIGUITY_EXTRA if ambiguous else 0.0)
        if best and _sure(hits, needed):
            return Decision(text, c, "answer", reason="retrieved", hit=best, hits=hits, ambiguous=ambiguous)
        if c.act is not Act.question and topic is None:
            # Thanks, goodbye, chit-chat: the engine answers in kind; nothing to offer or hand off.
            return Decision(text, c, "clarify", reason="not_a_question", hit=best, hits=hits)
        offer = [h for h in hits if h.score >= self.settings.kb_suggest_threshold][:SUGGESTIONS]
        if offer:
            # Not sure enough to answer, but the likely questions are known: let the citizen pick one.
            return Decision(text, c, "suggest", reason="unsure", hit=best, hits=hits, ambiguous=ambiguous,
                            suggestions=offer)
        if clarified or topic is not None:
            return Decision(text, c, "handoff", reason="unclear_after_clarifying", hit=best, hits=hits,
                            ambiguous=ambiguous)
        if ambiguous:  # the area itself is in doubt: ask which one
            return Decision(text, c, "clarify", reason="ambiguous", hit=best, hits=hits, ambiguous=ambiguous)
        # A clear area and a real question, but nothing in the knowledge base comes near it.
        return Decision(text, c, "handoff", reason="no_entry", hit=best, hits=hits)

    def _several(self, text: str, c: Classification) -> Decision | None:
        """Several questions in one message: one part each when every part is sure, else the best
        question of each part offered; None when the parts find nothing (decided as one question)."""
        lang = text_language(text)
        best: list[Hit] = []
        sure = True
        for topic, clauses in c.issues[:SUGGESTIONS]:
            hits = [h for h in self.kb.search(clauses, topic=topic, k=3, lang=lang) if h.entry not in
                    [b.entry for b in best]]
            if hits:
                best.append(hits[0])
                sure = sure and _sure(hits, self.settings.kb_answer_threshold)
        if len(best) < 2:
            return None
        if sure:
            return Decision(text, c, "answer", reason="several_questions", hit=best[0], hits=best, parts=best)
        offer = [h for h in best if h.score >= self.settings.kb_suggest_threshold]
        if not offer:
            return None
        return Decision(text, c, "suggest", reason="several_questions", hit=offer[0], hits=best, suggestions=offer)

    def more(self, text: str, shown: list[str]) -> Decision | None:
        """After "none of these": the next likely questions, once; None when there are none."""
        decision = self.decide(text, clarified=True)
        others = [h for h in decision.hits if h.entry.id not in shown]
        offer = [h for h in others if h.score >= self.settings.kb_suggest_threshold][:SUGGESTIONS]
        if not offer:
            return None
        return Decision(decision.text, decision.classification, "suggest", reason="more", hit=offer[0],
                        hits=others, suggestions=offer)

    def follow_up(self, text: str, previous: Entry) -> Decision | None:
        """A short message after an answer ("那如果他不给呢", "要多少钱", "去哪里办"), read together with
        the question just answered. None when that reading finds nothing new either."""
        text = normalize(text)
        if len(text) > FOLLOW_UP_CHARS:
            return None
        joined = self.decide(f"{previous.question} {text}", clarified=True)  # one question, not two
        if joined.action not in ("answer", "suggest"):
            return None
        if joined.action == "answer" and joined.hit is not None and joined.hit.entry.id != previous.id:
            return replace(joined, text=text, reason="follow_up")
        others = [h for h in joined.hits if h.entry.id != previous.id]
        offer = [h for h in others if h.score >= self.settings.kb_suggest_threshold][:SUGGESTIONS]
        if not offer:  # about the point just answered: the questions next to it
            offer = [Hit(e, 0.0, 0.0, 0.0) for e in self.kb.related(previous.id, SUGGESTIONS)]
        if not offer:
            return None
        return Decision(text, joined.classification, "suggest", reason="follow_up", hit=offer[0], hits=others,
                        suggestions=offer)

    def ambiguous(self, c: Classification) -> bool:
        """Low topic confidence, or two topics too close to call (LEGALBOT_NLU_* settings)."""
        ranking = c.rankings.topic
        margin = ranking[0][1] - ranking[1][1] if len(ranking) > 1 else 1.0
        return c.topic_confidence < self.settings.nlu_fallback_threshold or margin < self.settings.nlu_ambiguity_margin

    def prepare(self, text: str, clarified: bool = False) -> Decision:
        """Decide now and keep the decision for a moment: the engine decides before it holds the
        citizen, so the database is held only for what the database must do."""
        decision = self.decide(text, clarified=clarified)
        if len(self._recent) >= RECENT_SIZE:
            self._recent.pop(next(iter(self._recent)), None)
        self._recent[(decision.text, clarified)] = (time.monotonic(), decision)
        return decision

    def is_fragment(self, text: str) -> bool:
        """A short piece of a burst that alone would only get a greeting or a clarifying question."""
        text = normalize(text)
        if self.settings.burst_window_seconds <= 0 or len(text) > self.settings.burst_fragment_chars:
            return False
        if not has_meaningful_text(text):
            return False
        decision = self.prepare(text)
        c = decision.classification
        if c.urgent or decision.action == "safety_check":
            return False
        return c.act in (Act.greet, Act.chitchat) or decision.action in ("clarify", "suggest")


def _sure(hits: list[Hit], needed: float) -> bool:
    """Sure enough to answer with the first hit on its own: its score reaches ``needed`` and e5 agrees
    (no other of the first few reads clearly closer to the message; e5's cosines sit in a narrow band, so
    "clearly" is :data:`SEMANTIC_TOLERANCE`). On the team's own queries the agreement took wrong direct
    answers from 22 of 257 to 12 of 222; the others are offered as questions instead."""
    first = hits[0]
    closest = max(h.semantic for h in hits[:SUGGESTIONS])
    return first.score >= needed and first.semantic >= closest - SEMANTIC_TOLERANCE
