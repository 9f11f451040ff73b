"""`legalbot nlu review`: the messages the bot handled badly, for a maintainer to label.

A message is worth a look when the bot was unsure (low topic confidence), had to ask which category
was meant, handed off for a reason other than urgency or an explicit request, or gave an answer the
citizen marked "not helpful". A lawyer's correction of a ticket's service or topic in the console comes
with its label already filled in (the maintainer checks it, and clears it to skip). Texts are redacted (ID, phone and bank card numbers) before they leave
the database.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml
from sqlmodel import col, select

from bot import yamlio
from bot.redact import redact
from bot.store import AuditEntry, Feedback, HandoffTicket, Message, Store, utcnow
from nlu.data import SERVICE_PREFIX, TOPIC_PREFIX, known_intents

HEADER = """\
# Messages the bot handled badly. For each one you want to teach the bot, set `label` to an intent
# (service_<slug>, topic_<slug> or a dialogue act such as greet), then run
#   legalbot nlu review --apply THIS_FILE
# which appends the labelled texts to training_data/nlu/reviewed.yml. Leave `label` empty to skip.
"""


def collect(store: Store, days: int = 30, limit: int = 500, low_confidence: float = 0.35) -> list[dict[str, Any]]:
    since = utcnow() - dt.timedelta(days=days)
    with store.session() as session:
        messages = session.exec(
            select(Message).where(Message.direction == "in", Message.kind == "text", col(Message.created_at) >= since)
            .order_by(col(Message.id).desc())
        ).all()
        rejected: dict[int, set[str]] = defaultdict(set)
        for fb in session.exec(select(Feedback).where(Feedback.kind == "not_helpful",
                                                      col(Feedback.created_at) >= since)).all():
            if fb.faq_id:
                rejected[fb.conversation_id].add(fb.faq_id)
    items: list[dict[str, Any]] = corrections(store, since)
    seen: set[str] = {item["text"] for item in items}
    for m in messages:
        d = m.decision or {}
        if "topic" not in d:
            continue
        why = []
        if d.get("action") == "clarify":
            why.append("clarified")
        if d.get("action") == "handoff" and d.get("reason") not in ("urgent", "asked_for_human"):
            why.append("handed_off")
        if float(d.get("topic_confidence", 1.0)) < low_confidence and d.get("act") == "question":
            why.append("low_confidence")
        hits = d.get("hits") or []
        if d.get("action") == "answer" and hits and hits[0].get("faq_id") in rejected.get(m.conversation_id, set()):
            why.append("not_helpful")
        text = redact(m.text.strip())
        if not why or text in seen:
            continue
        seen.add(text)
        items.append({
            "text": text, "why": why, "label": "", "message_id": m.id,
            "predicted": {k: d.get(k) for k in ("service", "topic", "act", "topic_confidence")},
        })
        if len(items) >= limit:
            break
    return items


def corrections(store: Store, since: dt.datetime) -> list[dict[str, Any]]:
    """The citizen messages of each ticket a lawyer reclassified, labelled with the lawyer's answer: the
    new topic where the topic changed, else the new service. The latest correction of a ticket wins."""
    with store.session() as session:
        entries = session.exec(
            select(AuditEntry, HandoffTicket.conversation_id)
            .join(HandoffTicket, col(HandoffTicket.id) == AuditEntry.ticket_id)
            .where(AuditEntry.action == "reclassified", col(AuditEntry.created_at) >= since)
            .order_by(col(AuditEntry.id))).all()
        latest = {entry.ticket_id: (entry, conversation_id) for entry, conversation_id in entries}
        items: list[dict[str, Any]] = []
        for entry, conversation_id in latest.values():
            was, now = entry.detail.get("was") or {}, entry.detail.get("now") or {}
            if now.get("topic") and now.get("topic") != was.get("topic"):
                label = TOPIC_PREFIX + str(now["topic"])
            elif now.get("service") and now.get("service") != was.get("service"):
                label = SERVICE_PREFIX + str(now["service"])
            else:
                continue
            for m in session.exec(select(Message).where(Message.conversation_id == conversation_id,
                                                        Message.direction == "in", Message.kind == "text")
                                  .order_by(col(Message.id))).all():
                d = m.decision or {}
                if d.get("act") != "question" or not m.text.strip():
                    continue  # greetings, thanks and what was said to the lawyer are not what the bot classified
                items.append({"text": redact(m.text.strip()), "why": ["lawyer_corrected"], "label": label,
                              "message_id": m.id, "ticket_id": entry.ticket_id,
                              "predicted": {"service": was.get("service"), "topic": was.get("topic")}})
    return items


def write_yaml(items: list[dict[str, Any]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = yaml.dump(items, Dumper=yamlio.Dumper, allow_unicode=True, sort_keys=False, width=1000)
    path.write_text(HEADER + body, encoding="utf-8")


class _BlockDumper(yamlio.Dumper):
    """Writes multi-line strings as `|` blocks, the way Rasa's own files look."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str)


class ReviewError(ValueError):
    pass


def apply(review_file: Path, training_data: Path) -> int:
    """Append the labelled items to training_data/nlu/reviewed.yml in Rasa format; returns how many."""
    items = yamlio.read(review_file) or []
    known = known_intents()
    by_intent: dict[str, list[str]] = defaultdict(list)
    for item in items:
        label = str(item.get("label") or "").strip()
        if not label:
            continue
        if label not in known:
            raise ReviewError(f"{review_file}: unknown label {label!r} for {item.get('text', '')[:30]!r}")
        text = " ".join(str(item["text"]).split())
        if text:
            by_intent[label].append(text)
    if not by_intent:
        return 0
    target = training_data / "nlu" / "reviewed.yml"
    doc = yamlio.read(target) if target.exists() else None
    doc = doc or {"version": "3.1", "nlu": []}
    existing = {item["intent"]: item for item in doc["nlu"] if "intent" in item}
    for intent, texts in by_intent.items():
        block = existing.get(intent)
        if block is None:
            block = {"intent": intent, "examples": ""}
            doc["nlu"].append(block)
            existing[intent] = block
        block["examples"] = (block["examples"] or "") + "".join(f"- {t}\n" for t in texts)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.dump(doc, Dumper=_BlockDumper, allow_unicode=True, sort_keys=False, width=1000),
                      encoding="utf-8")
    return sum(len(t) for t in by_intent.values())
