"""What the bot does with real citizens' questions, judged one by one (issue 12's measure).

    python -m bench.real_questions [--data-dir DIR]

The questions are ../shared/eval/real_questions_dev.jsonl (public, written by no one here; never
copied into the project). knowledge_base/eval/real_questions_judged.jsonl holds only labels, keyed by
the question's ``source_index``: which entries answer it fully or partly (judged by reading against
the knowledge base of the date in its first line), or that none does, and whether a lawyer is needed.
The benchmark skips when ../shared is absent.

Figures, over all judged questions unless said otherwise:
- answered fully / partly / wrongly: the bot showed an entry judged full / partial / neither;
- suggestions: when the bot offers 2–3 questions, the citizen takes one the judges found fitting (a
  full answer first) — that counts as a useful answer — or presses "none of these" once to see the next
  ones, and takes one of those or presses "none of these" again (a handoff);
- right entry in top 1 / top 3: among questions some entry answers (fully or partly), retrieval ranks
  one of those entries first / in its first three, whatever the bot then decided;
- handed off, and needless handoffs: handed off although the judges found no lawyer needed;
- asked for the topic first: the bot's first reply was a clarifying question; the benchmark then
  picks the topic the judges gave (the best a citizen could do) and counts what the bot did next.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import ROOT, write_section
from bot.runtime import build_runtime, ensure_built
from bot.settings import Settings
from bot.taxonomy import Topic

QUESTIONS = ROOT.parent / "shared" / "eval" / "real_questions_dev.jsonl"
LABELS = ROOT / "knowledge_base" / "eval" / "real_questions_judged.jsonl"


def load_labels(path: Path = LABELS) -> dict[int, dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]
    return {int(r["row"]): r for r in rows}


def _fitting(offered: list[str], label: dict[str, Any]) -> list[str]:
    return [i for i in offered if i in label["full"]] or [i for i in offered if i in label["partial"]]


def _verdict(faq_id: str, label: dict[str, Any]) -> str:
    return "full" if faq_id in label["full"] else "partial" if faq_id in label["partial"] else "wrong"


def measure(settings: Settings) -> dict[str, Any]:
    labels = load_labels()
    questions = {int(r["source_index"]): r["question"] for r in
                 (json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip())}
    ensure_built(settings, progress=False)
    engine = build_runtime(settings, upgrade=False).engine
    counts: Counter[str] = Counter()
    for row, label in labels.items():
        if row not in questions:
            continue
        decision = engine.decide(questions[row])
        if decision.action == "clarify":  # the citizen picks the topic the judges gave (the best case)
            counts["clarified"] += 1
            decision = engine.decide(questions[row], topic=Topic(label["topics"][0]), clarified=True)
        good = set(label["full"]) | set(label["partial"])
        ranked = [h.entry.id for h in (decision.hits or engine.kb.search(questions[row], k=6))][:6]
        counts["judged"] += 1
        counts["verdict_" + label["verdict"]] += 1
        counts["needs_lawyer"] += bool(label["needs_lawyer"])
        if good:
            counts["covered"] += 1
            counts["top1"] += bool(ranked[:1] and ranked[0] in good)
            counts["top3"] += bool(good & set(ranked[:3]))
            counts["top6"] += bool(good & set(ranked))
        counts["action_" + decision.action] += 1  # the decision after at most one clarification
        shown = None
        if decision.action == "answer" and decision.hit is not None:
            shown = decision.hit.entry.id
            counts["answered_" + _verdict(shown, label)] += 1
        elif decision.action == "suggest":
            # The citizen picks an offered question that fits (a full answer first); if none does, they
            # press "none of these" once to see the next ones, and pick from those or give up.
            offered = [h.entry.id for h in decision.suggestions]
            fitting = _fitting(offered, label)
            if not fitting:
                more = engine.policy.more(questions[row], offered)
                fitting = _fitting([h.entry.id for h in more.suggestions], label) if more else []
                counts["more_shown"] += more is not None
                counts["more_fit"] += bool(fitting)
            counts["suggest_fit" if fitting else "suggest_none"] += 1
            if fitting:
                shown = fitting[0]
                counts["via_suggestion_" + _verdict(shown, label)] += 1
        if shown is not None and _verdict(shown, label) != "wrong":
            counts["useful"] += 1
        handed_off = decision.action == "handoff" or (decision.action == "suggest" and shown is None)
        counts["handed_off"] += handed_off
        if handed_off and not label["needs_lawyer"]:
            counts["needless_handoff"] += 1
    return dict(counts)


def table(c: dict[str, Any]) -> str:
    n = max(c.get("judged", 0), 1)
    covered = max(c.get("covered", 0), 1)
    answered = c.get("action_answer", 0)
    suggested = c.get("action_suggest", 0)
    lines = [
        f"{c.get('judged', 0)} judged real questions: the knowledge base answers {c.get('verdict_full', 0)} fully, "
        f"{c.get('verdict_partial', 0)} partly and {c.get('verdict_none', 0)} not at all; the judges found a "
        f"lawyer needed for {c.get('needs_lawyer', 0)}.", "",
        "| figure | value | goal |", "|---|---|---|",
        f"| useful answer, directly or through a suggestion | {c.get('useful', 0) / n:.1%} | ≥ 70% |",
        f"| answered directly: fully / partly / wrongly | {c.get('answered_full', 0) / n:.1%} / "
        f"{c.get('answered_partial', 0) / n:.1%} / {c.get('answered_wrong', 0) / n:.1%} | |",
        f"| wrong answers, of answers shown directly | {c.get('answered_wrong', 0) / max(answered, 1):.1%} "
        f"({c.get('answered_wrong', 0)} of {answered}) | ≤ 5% |",
        f"| wrong answers, of all answers shown (direct, or a question the citizen chose) | "
        f"{c.get('answered_wrong', 0) / max(answered + c.get('suggest_fit', 0), 1):.1%} "
        f"({c.get('answered_wrong', 0)} of {answered + c.get('suggest_fit', 0)}) | |",
        f"| offered 2–3 questions | {suggested / n:.1%} | |",
        f"| a fitting question was among them or the next ones (the citizen took it) | "
        f"{c.get('suggest_fit', 0) / max(suggested, 1):.1%} ({c.get('suggest_fit', 0)} of {suggested}; full "
        f"{c.get('via_suggestion_full', 0)}, partial {c.get('via_suggestion_partial', 0)}; "
        f"{c.get('more_fit', 0)} of them among the next ones, shown {c.get('more_shown', 0)} times) | |",
        f"| handed off (directly, or after \"none of these\") | {c.get('handed_off', 0) / n:.1%} | |",
        f"| needless handoffs | {c.get('needless_handoff', 0) / n:.1%} | ≤ 10% |",
        f"| asked for the topic first | {c.get('clarified', 0) / n:.1%} | |",
        f"| right entry first / in top 3 (of {c.get('covered', 0)} covered) | {c.get('top1', 0) / covered:.1%} / "
        f"{c.get('top3', 0) / covered:.1%} | top 3 ≥ 90% |",
        f"| right entry in the top 6 (the first offer and the next) | {c.get('top6', 0) / covered:.1%} | |",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="a data folder with a built model and index")
    args = parser.parse_args()
    if not QUESTIONS.exists():
        print(f"skipped: {QUESTIONS} is absent")  # noqa: T201
        return
    settings = Settings(data_dir=args.data_dir) if args.data_dir else Settings()
    body = table(measure(settings))
    write_section("real_questions", "python -m bench.real_questions", body)
    print(body)  # noqa: T201


if __name__ == "__main__":
    main()
