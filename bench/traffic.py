"""Synthetic traffic for the reports: citizens, conversations with their messages, tickets, ratings and
applications over a span of days, written straight into a database with bulk inserts.

    python -m bench.traffic --url postgresql+psycopg://postgres@127.0.0.1:5432/legalbot_stats \
        --conversations 200000 --days 365

The shapes are plausible, not real: more conversations on weekdays and in office hours, most answered,
one in eight handed to a lawyer, some coming back within days. tests/test_reports.py recomputes every
figure of reports/metrics.py from these rows; bench/reports.py times the dashboard's queries on a year.
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import random
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy.engine import Engine

from bot.store import (
    Application,
    ApplicationEvent,
    Citizen,
    Conversation,
    Feedback,
    HandoffTicket,
    Lawyer,
    Message,
    Store,
)

CHANNELS = ("web", "wechat", "telegram")
SERVICES = ("consultation", "legal_aid", "mediation", "notarization", "lawyer")
TOPICS = ("labor", "marriage_family", "debt", "property", "traffic", "contract", "inheritance", "consumer")
DISTRICTS = ("东城区", "西城区", "南湖区", "北山县")
REASONS = ("urgent", "asked_for_human", "complex", "unclear_after_clarifying", "no_entry", "none_fit")
FORMS = ("legal_aid", "mediation", "notarization")
OFFICES = {"legal_aid": "aid-centre", "mediation": "mediation-committee", "notarization": "notary-office"}


@dataclass(frozen=True)
class Shape:
    conversations: int = 2000
    days: int = 60
    end: dt.date = dt.date(2026, 11, 30)
    lawyers: int = 6
    messages_per_conversation: int = 5
    seed: int = 7


def _moment(rng: random.Random, day: dt.date) -> dt.datetime:
    """A moment of the day in Beijing time, busier in office hours, returned in UTC."""
    hour = rng.choices(range(24), weights=[1, 1, 1, 1, 1, 2, 3, 6, 10, 14, 14, 12, 8, 10, 13, 13, 12, 9, 7, 6, 5, 4, 2, 1])[0]
    local = dt.datetime.combine(day, dt.time(hour, rng.randrange(60), rng.randrange(60)),
                                tzinfo=dt.timezone(dt.timedelta(hours=8)))
    return local.astimezone(dt.UTC)


def generate(store: Store, shape: Shape = Shape(), batch: int = 5000) -> dict[str, int]:
    """Write the traffic; returns how many rows of each kind."""
    rng = random.Random(shape.seed)
    engine: Engine = store.engine
    written: dict[str, int] = {}
    start = shape.end - dt.timedelta(days=shape.days - 1)
    days = [start + dt.timedelta(days=n) for n in range(shape.days)]
    weights = [3 if d.weekday() < 5 else 1 for d in days]

    with engine.begin() as conn:
        lawyer_ids = []
        for n in range(shape.lawyers):
            result = conn.execute(insert(Lawyer).values(username=f"synthetic-{shape.seed}-{n}", display_name=f"律师{n + 1}",
                                                        password_hash="!", role="lawyer", topics=[], languages=["zh"],
                                                        active=True, created_at=dt.datetime.now(dt.UTC)))
            lawyer_ids.append(int(result.inserted_primary_key[0]))
    citizens = max(1, shape.conversations * 2 // 3)  # a third of the conversations are a citizen coming back
    citizen_ids = _bulk(engine, Citizen, ({"channel": rng.choice(CHANNELS), "channel_user_id": f"s{shape.seed}-{n}",
                                           "language": "zh" if rng.random() < 0.93 else "en",
                                           "created_at": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)}
                                          for n in range(citizens)), batch)
    written["citizens"] = len(citizen_ids)

    conversations: list[dict[str, Any]] = []
    holding: set[int] = set()  # citizens with a conversation still open: one each, as the store requires
    for _ in range(shape.conversations):
        day = rng.choices(days, weights)[0]
        opened = _moment(rng, day)
        urgent = rng.random() < 0.03
        handed = urgent or rng.random() < 0.12
        closed_late = rng.random() < 0.02
        outcome = None if closed_late else (
            rng.choice(["resolved_by_lawyer", "resolved_by_lawyer", "referred", "emergency_referred" if urgent else "abandoned"])
            if handed else rng.choices(["answered", "referred", "out_of_scope", "abandoned", "withdrawn"], [70, 8, 5, 14, 3])[0])
        closed = None if outcome is None else opened + dt.timedelta(minutes=rng.randint(1, 600))
        citizen = rng.choice(citizen_ids)
        while outcome is None and citizen in holding:
            citizen = rng.choice(citizen_ids)
        if outcome is None:
            holding.add(citizen)
        conversations.append({
            "citizen_id": citizen, "channel": rng.choice(CHANNELS),
            "status": "closed" if outcome else ("waiting" if handed else "bot"),
            "service": rng.choices(SERVICES, [70, 12, 8, 5, 5])[0], "topic": rng.choice(TOPICS), "urgent": urgent,
            "outcome": outcome, "opened_at": opened, "closed_at": closed, "last_activity_at": closed or opened,
            "language": "zh" if rng.random() < 0.93 else "en",
            "district": rng.choice(DISTRICTS) if rng.random() < 0.4 else None,
            "_handed": handed,
        })
    # As the store keeps it: when the citizen next opened a conversation after this one ended (the synthetic
    # conversations of one citizen may overlap, which the store would not allow).
    opened: dict[int, list[dt.datetime]] = defaultdict(list)
    for c in conversations:
        opened[c["citizen_id"]].append(c["opened_at"])
    for moments in opened.values():
        moments.sort()
    for c in conversations:
        moments = opened[c["citizen_id"]]
        n = bisect.bisect_right(moments, c["closed_at"]) if c["closed_at"] else len(moments)
        c["returned_at"] = moments[n] if n < len(moments) else None
    ids = _bulk(engine, Conversation, ({k: v for k, v in c.items() if not k.startswith("_")} for c in conversations), batch)
    written["conversations"] = len(ids)

    def messages() -> Iterator[dict[str, Any]]:
        for cid, c in zip(ids, conversations, strict=True):
            for n in range(max(1, int(rng.expovariate(1 / shape.messages_per_conversation)))):
                at = c["opened_at"] + dt.timedelta(seconds=30 * n)
                yield {"conversation_id": cid, "citizen_id": c["citizen_id"], "direction": "in" if n % 2 == 0 else "out",
                       "sender": "citizen" if n % 2 == 0 else "bot", "kind": "text", "text": "……", "buttons": [],
                       "created_at": at, "processed_at": at, "delivered_at": at, "delivery_attempts": 0, "failed": False}
    written["messages"] = len(_bulk(engine, Message, messages(), batch, ids=False))

    tickets: list[dict[str, Any]] = []
    ratings: list[dict[str, Any]] = []
    for cid, c in zip(ids, conversations, strict=True):
        if not c["_handed"]:
            continue
        created = c["opened_at"] + dt.timedelta(minutes=rng.randint(0, 5))
        claimed = None if c["outcome"] in (None, "abandoned") and rng.random() < 0.5 else \
            created + dt.timedelta(minutes=rng.expovariate(1 / 8))
        lawyer = rng.choice(lawyer_ids) if claimed else None
        replied = claimed + dt.timedelta(minutes=rng.expovariate(1 / 2)) if claimed and rng.random() < 0.95 else None
        resolved = c["closed_at"] if c["closed_at"] and (claimed is None or c["closed_at"] > claimed) else (
            claimed + dt.timedelta(minutes=rng.randint(5, 90)) if claimed and c["outcome"] else None)
        status = ("resolved" if claimed and c["outcome"] in ("resolved_by_lawyer", "referred", "emergency_referred")
                  else "expired" if c["outcome"] else ("claimed" if claimed else "waiting"))
        tickets.append({"conversation_id": cid, "status": status, "priority": "urgent" if c["urgent"] else "normal",
                        "service": c["service"], "topic": c["topic"],
                        "reason": "urgent" if c["urgent"] else rng.choice(REASONS[1:]),
                        "created_at": created, "claimed_at": claimed, "first_reply_at": replied,
                        "resolved_at": resolved if status in ("resolved", "expired") else None,
                        "outcome": c["outcome"] if status == "resolved" else None, "lawyer_id": lawyer,
                        "needless": status == "resolved" and rng.random() < 0.1, "packet": {}, "language": "zh"})
        if rng.random() < 0.02 and status not in ("waiting", "claimed"):  # handed off twice (ended tickets only:
            # one open ticket per conversation, as the store requires); the reason counted is the first ticket's
            tickets.append(dict(tickets[-1], reason="urgent", created_at=created + dt.timedelta(minutes=1)))
        if status == "resolved" and rng.random() < 0.6:
            ratings.append({"conversation_id": cid, "kind": "rating", "rating": rng.choices(range(1, 6), [3, 4, 10, 30, 53])[0],
                            "created_at": resolved})
        if c["outcome"] == "answered" and rng.random() < 0.1:
            ratings.append({"conversation_id": cid, "kind": "not_helpful", "rating": None, "created_at": c["closed_at"]})
    written["tickets"] = len(_bulk(engine, HandoffTicket, tickets, batch, ids=False))
    first_reasons: dict[int, str] = {}
    for ticket in tickets:
        first_reasons.setdefault(ticket["conversation_id"], ticket["reason"])
    with engine.begin() as conn:
        if first_reasons:
            conn.execute(update(Conversation).where(Conversation.id == bindparam("cid"))  # type: ignore[arg-type]
                         .values(handoff_reason=bindparam("reason")),
                         [{"cid": cid, "reason": reason} for cid, reason in first_reasons.items()])
    written["feedback"] = len(_bulk(engine, Feedback, ratings, batch, ids=False))

    applications: list[dict[str, Any]] = []
    plans: list[tuple[dt.datetime, list[tuple[str, float]]]] = []
    for cid, c in zip(ids, conversations, strict=True):
        if c["service"] not in ("legal_aid", "mediation", "notarization") or rng.random() > 0.3:
            continue
        form = c["service"]
        submitted = c["opened_at"] + dt.timedelta(minutes=10)
        fate = rng.choices(["completed", "refused", "withdrawn", "open"], [60, 12, 8, 20])[0]
        steps: list[tuple[str, float]] = []
        if fate in ("completed", "open") and rng.random() < 0.8:
            steps.append(("accept", rng.uniform(0.1, 9)))
        closed = None
        result = None
        if fate == "completed":
            closed = submitted + dt.timedelta(days=(steps[0][1] if steps else 0) + rng.uniform(0.5, 20))
            result = "granted" if form == "legal_aid" else "done"
            if not steps:
                steps.append(("schedule", rng.uniform(0.1, 3)))
        elif fate in ("refused", "withdrawn"):
            closed = submitted + dt.timedelta(days=rng.uniform(0.1, 12))
            result = fate
        applications.append({"form": form, "citizen_id": c["citizen_id"], "conversation_id": cid,
                             "status": fate if fate != "open" else ("accepted" if steps else "submitted"),
                             "state": {}, "office": OFFICES[form], "district": c["district"], "result": result,
                             "created_at": submitted, "updated_at": closed or submitted, "submitted_at": submitted,
                             "closed_at": closed,
                             "rating": rng.choice([None, 1, 2, 3, 4, 5, 5]) if fate == "completed" else None})
        plans.append((submitted, steps))
    app_ids = _bulk(engine, Application, applications, batch)
    events = [{"application_id": aid, "kind": kind, "actor": "staff:1", "text": "", "public": True, "detail": {},
               "created_at": submitted + dt.timedelta(days=after)}
              for aid, (submitted, steps) in zip(app_ids, plans, strict=True) for kind, after in steps]
    written["applications"] = len(app_ids)
    written["application_events"] = len(_bulk(engine, ApplicationEvent, events, batch, ids=False))
    return written


def _bulk(engine: Engine, model: Any, rows: Any, batch: int, ids: bool = True) -> list[int]:
    """Insert in batches; the new ids in order when ``ids``, else one 0 per row."""
    out: list[int] = []
    table = model.__table__
    chunk: list[dict[str, Any]] = []

    def flush() -> None:
        if not chunk:
            return
        with engine.begin() as conn:
            if ids:
                result = conn.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), chunk)
                out.extend(int(r[0]) for r in result)
            else:
                conn.execute(insert(table), chunk)
                out.extend([0] * len(chunk))
        chunk.clear()

    for row in rows:
        chunk.append(row)
        if len(chunk) >= batch:
            flush()
    flush()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="database URL (it is migrated to the head first)")
    parser.add_argument("--conversations", type=int, default=Shape.conversations)
    parser.add_argument("--days", type=int, default=Shape.days)
    parser.add_argument("--seed", type=int, default=Shape.seed)
    args = parser.parse_args()
    store = Store(args.url)
    store.upgrade()
    started = time.perf_counter()
    written = generate(store, Shape(conversations=args.conversations, days=args.days, seed=args.seed))
    print(written, f"{time.perf_counter() - started:.0f} s")  # noqa: T201


if __name__ == "__main__":
    main()
