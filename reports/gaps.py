"""Content gaps: what citizens asked that the bot could not answer well, grouped so maintainers know what to
write next.

A question (a citizen's typed message the NLU classified) is collected when, within the scope's conversations:

- it was handled badly in the sense of ``legalbot nlu review`` (nlu/review.py): the bot asked which category
  was meant (``clarified``), handed off for a reason other than urgency or an explicit request, had a low
  topic confidence (``low_confidence``), or its answer was marked "not helpful" (``not_helpful``);
- a handoff followed it because the knowledge base had nothing (``no_entry``), the offered answers did not fit
  (``none_fit``) or the category stayed unclear (``unclear_after_clarifying``); other such handoffs (complex
  questions) are ``handed_off``;
- the citizen rejected the offered questions with "none of these" (``none_of_these``: ``/faq:more``,
  ``/faq:none``) or the offered categories (``/topic:none``).

Small talk (greetings, thanks …) and "vague" messages without a point ("我想咨询个事") are left out: there is
nothing to write for them. Texts are redacted (``bot.redact.redact``) as they are read.

Similar questions are grouped: TF-IDF over 1–3-grams of ``nlu.text.chars`` (single CJK characters and ASCII
words, without the words that only ask), document frequencies taken over the training data as well, cosine
distances, average-linkage agglomerative clustering cut at ``DISTANCE_THRESHOLD``. The input
order is fixed (newest first), so the result is deterministic. Clusters of two or more come first, largest
first, then the most recently seen, then the newest question; clusters of one follow, most recent first.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from bot.redact import redact
from bot.store import Conversation, Feedback, HandoffTicket, Message
from nlu import review
from nlu.text import _GENERIC, chars, normalize
from reports.metrics import Scope

#: The most recent questions clustered by default, and the most any caller may ask for: the work grows with the
#: square (1,000 questions: about 2 s and 30 MB; 3,000: 220 MB for a moment).
DEFAULT_LIMIT = 1000
MAX_LIMIT = 3000
#: Inbound messages read at most per collected question before giving up (a quiet range is read whole).
SCAN_FACTOR = 50
PAGE = 1000
#: Cosine distance at which two groups stop being merged (average linkage over TF-IDF of character 1-3-grams,
#: inverse document frequencies from the training data): in development, paraphrases sharing the key words
#: ("狗咬伤" / "狗咬了") sat at 0.72-0.93 and unrelated questions at 0.94 and above; 0.88-0.94 gave the same
#: clusters.
DISTANCE_THRESHOLD = 0.9
#: The same default as ``legalbot nlu review`` (``Settings.nlu_fallback_threshold``).
LOW_CONFIDENCE = 0.35

#: Every reason, in the order they are listed.
WHY = ("no_entry", "none_fit", "none_of_these", "unclear_after_clarifying", "not_helpful", "clarified",
       "handed_off", "low_confidence")
#: Handoff reasons that mean the bot had no fitting answer (HandoffTicket.reason).
GAP_HANDOFFS = ("no_entry", "none_fit", "unclear_after_clarifying")
#: Button payloads that reject what the bot offered: the questions ("none of these") or the categories.
REJECTIONS = {"/faq:more": "suggest", "/faq:none": "suggest", "/topic:none": "clarify"}
SMALL_TALK = {"greet", "goodbye", "thanks", "affirm", "deny", "chitchat"}

#: The columns of the kb-gaps CSV, in order.
CSV_COLUMNS = ("cluster", "count", "conversations", "last_seen", "topic", "service", "example", "why")
_PLACEHOLDER = re.compile(r"\[[A-Z]+\]")


@dataclass
class Question:
    message_id: int
    conversation_id: int
    text: str  # redacted
    at: dt.datetime
    decision: dict[str, Any]
    why: set[str] = field(default_factory=set)

    @property
    def predicted(self) -> dict[str, Any]:
        return {k: self.decision.get(k) for k in ("service", "topic", "act", "topic_confidence")}


@dataclass
class Cluster:
    number: int
    members: list[Question]  # newest first
    example: Question

    @property
    def count(self) -> int:
        return len(self.members)

    @property
    def conversations(self) -> int:
        return len({q.conversation_id for q in self.members})

    @property
    def last_seen(self) -> dt.datetime:
        return max(q.at for q in self.members)

    def most_common(self, key: str) -> str | None:
        seen = Counter(str(q.decision[key]) for q in self.members if q.decision.get(key))
        return seen.most_common(1)[0][0] if seen else None  # ties: the newest question's value

    @property
    def why(self) -> dict[str, int]:
        counts = Counter(w for q in self.members for w in q.why)
        return {w: counts[w] for w in WHY if counts[w]}

    def as_dict(self, tz: Any = dt.UTC, with_members: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "cluster": self.number, "count": self.count, "conversations": self.conversations,
            "last_seen": _when(self.last_seen, tz), "topic": self.most_common("topic"),
            "service": self.most_common("service"), "example": self.example.text, "why": self.why}
        if with_members:
            out["message_ids"] = [q.message_id for q in self.members]
        return out


@dataclass
class Gaps:
    scope: Scope
    clusters: list[Cluster]
    questions: int
    limit: int
    #: The limit (or the scan bound) was reached: older questions of the scope may be left out.
    truncated: bool

    def as_dict(self, with_members: bool = False) -> dict[str, Any]:
        return {"scope": {"since": self.scope.since.isoformat(), "until": self.scope.until.isoformat(),
                          "timezone": self.scope.timezone, "filters": self.scope.filters()},
                "questions": self.questions, "limit": self.limit, "truncated": self.truncated,
                "clusters": [c.as_dict(self.scope.tz, with_members) for c in self.clusters]}


def _when(moment: dt.datetime, tz: Any) -> str:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return aware.astimezone(tz).isoformat(timespec="seconds")


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


# ---- collecting -----------------------------------------------------------------------------------

def _own_why(d: dict[str, Any], low_confidence: float) -> set[str]:
    """What the message's own decision says (nlu.review's rules, with the handoff reason spelt out)."""
    why = set()
    if d.get("action") == "clarify":
        why.add("clarified")
    reason = str(d.get("reason") or "").split(":")[0]
    if d.get("action") == "handoff" and reason not in ("urgent", "asked_for_human"):
        why.add(reason if reason in GAP_HANDOFFS else "handed_off")
    if float(d.get("topic_confidence", 1.0)) < low_confidence and d.get("act") == "question":
        why.add("low_confidence")
    return why


def _is_question(d: dict[str, Any]) -> bool:
    return "topic" in d and d.get("act") not in SMALL_TALK and d.get("reason") != "vague"


def collect(session: Session, scope: Scope, limit: int = DEFAULT_LIMIT,
            low_confidence: float = LOW_CONFIDENCE) -> tuple[list[Question], bool]:
    """The most recent ``limit`` badly handled questions of the scope's conversations, newest first, and
    whether more messages were left unread.

    Inbound messages are read newest first, a page at a time; a later event of the same conversation (a
    "none of these" press, a "not helpful" mark, a handoff) belongs to the latest question before it."""
    limit = max(1, min(limit, MAX_LIMIT))
    found: list[Question] = []
    #: Per conversation: rejections waiting for the question they rejected (its decision's action).
    pending: dict[int, dict[str, str]] = defaultdict(dict)
    #: Per conversation: when the next newer question was asked (events before it belong to older ones).
    newer: dict[int, dt.datetime] = {}
    events: dict[int, list[tuple[dt.datetime, str]]] = {}
    rejected: dict[int, set[str]] = defaultdict(set)
    before: int | None = None
    scanned = 0
    while True:
        query = (select(Message).join(Conversation, col(Conversation.id) == Message.conversation_id)
                 .where(*scope.conditions(), Message.direction == "in", Message.sender == "citizen",
                        col(Message.kind).in_(("text", "button", "command")))
                 .order_by(col(Message.id).desc()).limit(PAGE))
        if before is not None:
            query = query.where(col(Message.id) < before)
        page = session.exec(query).all()
        if not page:
            return found, False
        _load_events(session, {m.conversation_id for m in page} - events.keys(), events, rejected)
        for m in page:
            scanned += 1
            d = m.decision or {}
            conv = m.conversation_id
            if m.kind != "text":
                payload = str(d.get("payload") or "")
                if payload in REJECTIONS:
                    pending[conv].setdefault(REJECTIONS[payload], "none_of_these" if payload.startswith("/faq:")
                                             else "unclear_after_clarifying")
                continue
            if not _is_question(d):
                continue
            at = _aware(m.created_at)
            why = _own_why(d, low_confidence)
            action = str(d.get("action"))
            if action in pending[conv]:
                why.add(pending[conv].pop(action))
            until = newer.get(conv)
            for when, kind in events.get(conv, []):
                if when >= at and (until is None or when < until):
                    if kind == "not_helpful" and action in ("answer", "suggest"):
                        why.add("not_helpful")
                    elif kind in GAP_HANDOFFS:
                        why.add(kind)
            hits = d.get("hits") or []
            if action == "answer" and hits and hits[0].get("faq_id") in rejected.get(conv, set()):
                why.add("not_helpful")  # nlu.review's rule: the answer given was marked not helpful
            newer[conv] = at
            text = redact(m.text.strip())
            if why and text:
                found.append(Question(m.id or 0, conv, text, at, d, why))
                if len(found) >= limit:
                    return found, True
        before = page[-1].id
        if scanned >= limit * SCAN_FACTOR:
            return found, True


def _load_events(session: Session, conversation_ids: set[int],
                 events: dict[int, list[tuple[dt.datetime, str]]],
                 rejected: dict[int, set[str]]) -> None:
    for cid in conversation_ids:
        events[cid] = []
    if not conversation_ids:
        return
    ids = sorted(conversation_ids)
    for fb in session.exec(select(Feedback).where(Feedback.kind == "not_helpful",
                                                  col(Feedback.conversation_id).in_(ids))).all():
        events[fb.conversation_id].append((_aware(fb.created_at), "not_helpful"))
        if fb.faq_id:
            rejected[fb.conversation_id].add(fb.faq_id)
    tickets = session.execute(sa_select(col(HandoffTicket.conversation_id), col(HandoffTicket.reason),
                                        col(HandoffTicket.created_at))
                              .where(col(HandoffTicket.conversation_id).in_(ids),
                                     col(HandoffTicket.reason).in_(GAP_HANDOFFS))).all()
    for cid, reason, created in tickets:
        events[cid].append((_aware(created), reason))


# ---- clustering -----------------------------------------------------------------------------------

def _grams(text: str) -> list[str]:
    """Character 1-3-grams (CJK characters, ASCII words) of what is left without the redaction placeholders
    and the words that only ask ("请问", "怎么办": nlu.text's list), which every question shares."""
    units = chars(_GENERIC.sub(" ", normalize(_PLACEHOLDER.sub(" ", text))))
    return [" ".join(units[i:i + n]) for n in (1, 2, 3) for i in range(len(units) - n + 1)]


def background_texts(training_data: Path) -> list[str]:
    """The training examples' texts: their document frequencies tell common characters from telling ones
    far better than a few hundred questions alone. Empty if the data cannot be read."""
    from nlu.data import load_training_data

    try:
        return [e.text for e in load_training_data(training_data)]
    except Exception:  # clustering still works, only less well
        return []


def _labels(texts: Sequence[str], threshold: float, background: Sequence[str] = ()) -> tuple[list[int], np.ndarray]:
    """A cluster label per text, and the cosine distances between the texts."""
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics.pairwise import cosine_similarity

    if len(texts) < 2:
        return [0] * len(texts), np.zeros((len(texts), len(texts)))
    if not any(_grams(t) for t in [*texts, *background]):  # nothing but placeholders and punctuation
        return list(range(len(texts))), np.ones((len(texts), len(texts))) - np.eye(len(texts))
    vectors = TfidfVectorizer(analyzer=_grams, sublinear_tf=True).fit([*background, *texts]).transform(texts)
    distances = cosine_similarity(vectors)  # rows are L2-normalised: one dense n×n array, reused in place
    np.subtract(1.0, distances, out=distances)
    np.clip(distances, 0.0, 1.0, out=distances)
    np.fill_diagonal(distances, 0.0)
    model = AgglomerativeClustering(n_clusters=None, metric="precomputed", linkage="average",
                                    distance_threshold=threshold)
    return [int(x) for x in model.fit_predict(distances)], distances


def cluster(questions: Sequence[Question], threshold: float = DISTANCE_THRESHOLD,
            background: Sequence[str] = ()) -> list[Cluster]:
    """Group the questions (newest first) and order the groups: those of two or more by size (largest first),
    then last seen (latest first), then newest question; then those of one, latest first. Numbered 1, 2 …"""
    labels, distances = _labels([q.text for q in questions], threshold, background)
    groups: dict[int, list[int]] = defaultdict(list)
    for index, label in enumerate(labels):
        groups[label].append(index)
    made = []
    for indexes in groups.values():
        # the most central member: the least mean distance to the others (ties: the newest)
        central = min(indexes, key=lambda i: (float(distances[i, indexes].mean()), i))
        made.append(Cluster(0, [questions[i] for i in indexes], questions[central]))
    made.sort(key=lambda c: (c.count < 2, -c.count if c.count >= 2 else 0, -c.last_seen.timestamp(),
                             -max(q.message_id for q in c.members)))
    for number, c in enumerate(made, 1):
        c.number = number
    return made


def gaps(session: Session, scope: Scope, limit: int = DEFAULT_LIMIT, low_confidence: float = LOW_CONFIDENCE,
         threshold: float = DISTANCE_THRESHOLD, background: Sequence[str] = ()) -> Gaps:
    """The scope's content gaps: collected, redacted, clustered and ordered. ``background``: texts for the
    document frequencies (``background_texts(settings.training_data_dir)``)."""
    questions, truncated = collect(session, scope, limit, low_confidence)
    return Gaps(scope, cluster(questions, threshold, background), len(questions),
                max(1, min(limit, MAX_LIMIT)), truncated)


# ---- exports --------------------------------------------------------------------------------------

def review_items(clusters: Iterable[Cluster]) -> list[dict[str, Any]]:
    """``legalbot nlu review`` items (text, why, label, message_id, predicted) plus ``cluster`` and ``example``;
    one per distinct text of each cluster (the newest asking), in cluster order."""
    items: list[dict[str, Any]] = []
    for c in clusters:
        seen: set[str] = set()
        for q in c.members:
            if q.text in seen:
                continue
            seen.add(q.text)
            items.append({"text": q.text, "why": [w for w in WHY if w in q.why], "label": "",
                          "message_id": q.message_id, "predicted": q.predicted,
                          "cluster": c.number, "example": c.example.text})
    return items


def review_yaml(clusters: Iterable[Cluster]) -> str:
    """The review file's text, written by ``nlu.review.write_yaml`` itself (so ``--apply`` takes it as is)."""
    with tempfile.TemporaryDirectory(prefix="legalbot-gaps-") as folder:
        path = Path(folder) / "gaps.yml"
        review.write_yaml(review_items(clusters), path)
        return path.read_text(encoding="utf-8")


def _cell(value: Any) -> Any:
    """A citizen's text never starts a spreadsheet formula."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def kb_gaps_rows(result: Gaps) -> list[dict[str, Any]]:
    rows = []
    for c in result.clusters:
        d = c.as_dict(result.scope.tz)
        d["why"] = " ".join(f"{k}={v}" for k, v in d["why"].items())
        rows.append({k: d[k] for k in CSV_COLUMNS})
    return rows


def kb_gaps_csv(result: Gaps) -> bytes:
    """One row per cluster (``CSV_COLUMNS``), UTF-8 with a BOM so that Excel reads the Chinese."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in kb_gaps_rows(result):
        writer.writerow(["" if row[k] is None else _cell(row[k]) for k in CSV_COLUMNS])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def write(result: Gaps, out_dir: Path) -> tuple[Path, Path]:
    """Write the review YAML and the kb-gaps CSV into ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{result.scope.since:%Y%m%d}-{result.scope.until:%Y%m%d}"
    yml, table = out_dir / f"gaps-review-{stem}.yml", out_dir / f"kb-gaps-{stem}.csv"
    review.write_yaml(review_items(result.clusters), yml)
    table.write_bytes(kb_gaps_csv(result))
    return yml, table
