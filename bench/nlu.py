"""Built-in NLU against Rasa DIET on one train/test split of training_data/, plus LawBench topics.

    python -m bench.nlu              # both backends (Rasa needs its Python 3.10 environment)
    python -m bench.nlu --no-rasa    # built-in only

Rasa runs the pipeline of training_data/config.yml (JiebaTokenizer, CountVectorsFeaturizer on words
and on characters 1-4, DIETClassifier with 100 epochs) as a server on loopback; its single flat
intent ranking is split into the service, topic and act axes exactly as the bot's Rasa backend does.
"""

from __future__ import annotations

import argparse
import json
import socket
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split

from bench.common import ROOT, percentiles, write_section
from bot.settings import Settings
from nlu import builtin, rasa_server
from nlu.backend import Rankings
from nlu.data import Example, load_training_data
from nlu.rasa import RasaBackend

LAWBENCH = ROOT.parent / "shared" / "eval" / "lawbench_topics_dev.jsonl"


def split(seed: int = 11) -> tuple[list[Example], list[Example]]:
    examples = load_training_data(Settings().training_data_dir)
    train, test = train_test_split(examples, test_size=0.2, random_state=seed, stratify=[e.intent for e in examples])
    return train, test


def write_rasa_yaml(examples: Sequence[Example], path: Path) -> None:
    by_intent: dict[str, list[str]] = defaultdict(list)
    for e in examples:
        by_intent[e.intent].append(" ".join(e.text.split()))
    doc = {"version": "3.1", "nlu": [{"intent": i, "examples": "".join(f"- {t}\n" for t in ts)}
                                     for i, ts in by_intent.items()]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=10_000), encoding="utf-8")


def score(rank: Callable[[str], Rankings], test: Sequence[Example]) -> dict[str, float]:
    data = builtin.axis_datasets(test)
    out = {}
    latencies = []
    for axis in ("service", "topic"):
        texts, labels = data[axis]
        predicted = []
        for text in texts:
            t = time.perf_counter()
            r = rank(text)
            latencies.append(time.perf_counter() - t)
            predicted.append(getattr(r, axis)[0][0] if getattr(r, axis) else "")
        out[f"{axis}_macro_f1"] = float(f1_score(labels, predicted, average="macro", zero_division=0))
    p = percentiles(latencies)
    out["p50_ms"], out["p99_ms"] = p["p50"], p["p99"]
    return out


def lawbench(rank: Callable[[str], Rankings]) -> float | None:
    if not LAWBENCH.exists():
        return None
    rows = [json.loads(line) for line in LAWBENCH.read_text(encoding="utf-8").splitlines() if line.strip()]
    return sum(rank(r["question"]).topic[0][0] in r["accept"] for r in rows) / len(rows)


def run_builtin(train: Sequence[Example], test: Sequence[Example]) -> dict[str, float | None]:
    t = time.perf_counter()
    model = builtin.train(train)
    seconds = time.perf_counter() - t
    for e in test[:20]:
        model.rank(e.text)  # warm up
    result: dict[str, float | None] = {"train_s": seconds, **score(model.rank, test)}
    result["lawbench"] = lawbench(model.rank)
    return result


def run_rasa(train: Sequence[Example], test: Sequence[Example]) -> dict[str, float | None]:
    rasa_server.install()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data" / "nlu.yml"
        write_rasa_yaml(train, data)
        t = time.perf_counter()
        model = rasa_server.train(data.parent, Settings().training_data_dir / "config.yml", Path(tmp) / "out")
        seconds = time.perf_counter() - t
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with rasa_server.RasaServer(model, port) as server:
            backend = RasaBackend(server.url, timeout=10)
            for e in test[:20]:
                backend.rank(e.text)
            result: dict[str, float | None] = {"train_s": seconds, **score(backend.rank, test)}
            result["lawbench"] = lawbench(backend.rank)
            backend.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-rasa", action="store_true")
    args = parser.parse_args()
    train, test = split()
    results = {"built-in (char n-grams + calibrated linear SVM)": run_builtin(train, test)}
    if not args.no_rasa:
        results["Rasa 3.6.21 DIET (100 epochs)"] = run_rasa(train, test)
    rows = []
    for name, r in results.items():
        lb = f"{r['lawbench']:.3f}" if r.get("lawbench") is not None else "n/a"
        rows.append(f"| {name} | {r['service_macro_f1']:.3f} | {r['topic_macro_f1']:.3f} | {r['train_s']:.1f} | "
                    f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {lb} |")
    body = (f"One stratified 80/20 split of training_data/nlu ({len(train)} train / {len(test)} test examples, seed 11). "
            "Latency is per message in process for the built-in backend and over HTTP on loopback for Rasa "
            "(`/model/parse`), as each is used by the bot. LawBench: topic accuracy on "
            "../shared/eval/lawbench_topics_dev.jsonl (170 real questions; a prediction counts when it is in `accept`).\n\n"
            "| backend | service macro-F1 | topic macro-F1 | train s | parse p50 ms | parse p99 ms | LawBench topic acc. |\n"
            "|---|---|---|---|---|---|---|\n" + "\n".join(rows))
    if len(results) == 2:
        b, r = results.values()
        body += (f"\n\nBuilt-in vs Rasa: {r['train_s'] / b['train_s']:.0f}× faster to train, "  # type: ignore[operator]
                 f"{r['p50_ms'] / b['p50_ms']:.0f}× faster to parse (p50).")  # type: ignore[operator]
    write_section("nlu", "python -m bench.nlu" + (" --no-rasa" if args.no_rasa else ""), body)
    print(body)  # noqa: T201


if __name__ == "__main__":
    main()
