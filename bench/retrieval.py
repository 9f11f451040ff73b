"""Retrieval speed: `ask` end to end in process on the real knowledge base, and search at 1,000,000 entries.

    python -m bench.retrieval            # both parts, results into docs/benchmarks.md
    python -m bench.retrieval --quick    # 100,000 synthetic vectors instead of 1,000,000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import percentiles, rss_mb, write_section
from bot.runtime import build_kb, build_runtime, train_nlu
from bot.settings import Settings
from knowledge_base.evaluate import default_queries_path, evaluate, load_queries
from knowledge_base.vectors import VectorIndex


def _real_questions() -> list[str]:
    """Real citizens' questions (../shared/eval, never copied here): long narratives, when present."""
    import json

    from bench.real_questions import QUESTIONS

    if not QUESTIONS.exists():
        return []
    return [json.loads(line)["question"] for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]


def _forget_vectors() -> None:
    """Empty the e5 query cache and set aside the committed seed: a citizen's new message is in neither."""
    from nlu import semantic

    with semantic.shared()._lock:
        semantic.shared()._memory.clear()
        semantic.shared()._seed = {}


def ask_latency(repeats: int) -> tuple[str, dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), database_url=f"sqlite:///{tmp}/bench.db")
        train_nlu(settings, folds=0)
        build_kb(settings)
        runtime = build_runtime(settings)
        queries = [q["text"] for q in load_queries(default_queries_path())]
        real = _real_questions()
        for text in queries[:50]:  # warm up: load models
            runtime.engine.decide(text)
        rows = []
        headline: dict[str, float] = {}
        for name, texts, passes in (("team's queries", queries, repeats), ("real questions", real, 1)):
            if not texts:
                continue
            nlu_times, total_times = [], []
            for _ in range(passes):
                for text in texts:
                    _forget_vectors()
                    t0 = time.perf_counter()
                    runtime.engine.classifier.classify(text)
                    t1 = time.perf_counter()
                    _forget_vectors()
                    t2 = time.perf_counter()
                    runtime.engine.decide(text)
                    t3 = time.perf_counter()
                    nlu_times.append(t1 - t0)
                    total_times.append(t3 - t2)
            ask, nlu = percentiles(total_times), percentiles(nlu_times)
            headline = headline or ask
            if name == "real questions":
                headline = ask
            rows += [f"| `ask` on the {name} (NLU + triage + retrieval + decision) | {ask['p50']:.2f} | "
                     f"{ask['p90']:.2f} | {ask['p99']:.2f} | {ask['n']} |",
                     f"| NLU + triage alone, {name} | {nlu['p50']:.2f} | {nlu['p90']:.2f} | {nlu['p99']:.2f} | "
                     f"{nlu['n']} |"]
        quality = evaluate(runtime.kb.index, default_queries_path(), threshold=settings.kb_answer_threshold)
        entries = len(runtime.kb.index.entries)
    modes = quality["modes"]
    body = (f"Real knowledge base: {entries} entries; the {len(queries)} queries of knowledge_base/eval/queries.yml "
            f"({repeats} passes) and the {len(real)} real questions of ../shared/eval (1 pass). Every call starts "
            "with an empty e5 cache, as a citizen's new message does.\n\n"
            "| in process | p50 ms | p90 ms | p99 ms | calls |\n|---|---|---|---|---|\n" + "\n".join(rows) +
            "\n\nRetrieval quality on the team's queries (threshold "
            f"{quality['threshold']}):\n\n| mode | recall@1 | recall@3 | MRR | answered correctly | wrong answers | out-of-scope rejected |\n"
            "|---|---|---|---|---|---|---|\n" +
            "\n".join(f"| {m} | {r['recall@1']:.3f} | {r['recall@3']:.3f} | {r['mrr']:.3f} | {r['answered_correctly']:.3f} | "
                      f"{r['wrong_answers']:.3f} | {r['oos_rejection']:.3f} |" for m, r in modes.items()))
    return body, headline


def synthetic(n: int, dim: int = 256, queries: int = 1000, seed: int = 5) -> tuple[str, dict[str, float]]:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((2000, dim)).astype(np.float32)
    before = rss_mb()
    vectors = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        chunk = centers[rng.integers(0, len(centers), stop - start)] + 0.6 * rng.standard_normal((stop - start, dim)).astype(np.float32)
        vectors[start:stop] = chunk / np.linalg.norm(chunk, axis=1, keepdims=True)
    after_vectors = rss_mb()
    t0 = time.perf_counter()
    index = VectorIndex.build(vectors)
    build_seconds = time.perf_counter() - t0
    after_index = rss_mb()
    picks = rng.integers(0, n, queries)
    qs = vectors[picks] + 0.3 * rng.standard_normal((queries, dim)).astype(np.float32)
    qs /= np.linalg.norm(qs, axis=1, keepdims=True)
    times, found = [], []
    for q in qs:
        t = time.perf_counter()
        _, idx = index.search(q[None, :], 10)
        times.append(time.perf_counter() - t)
        found.append(idx[0])
    # recall@10 of the approximate index against exact search, on 100 queries
    exact = VectorIndex.build(vectors[: min(n, 50_000)])  # exact reference needs a flat index over all vectors
    import faiss

    flat = faiss.IndexFlatIP(dim)
    flat.add(vectors)
    _, truth = flat.search(qs[:100], 10)
    recall = float(np.mean([len(set(found[i]) & set(truth[i])) / 10 for i in range(100)]))
    del exact, flat
    p = percentiles(times)
    kind = "exact (flat)" if index.exact else f"IVF-Flat, nlist {index.index.nlist}, nprobe {index.index.nprobe}"
    body = (f"{n:,} synthetic unit vectors of {dim} dimensions (2,000 clusters), {kind}.\n\n"
            "| build s | vectors MB | index MB | search p50 ms | p90 ms | p99 ms | recall@10 vs exact |\n|---|---|---|---|---|---|---|\n"
            f"| {build_seconds:.1f} | {after_vectors - before:.0f} | {after_index - after_vectors:.0f} | {p['p50']:.2f} | "
            f"{p['p90']:.2f} | {p['p99']:.2f} | {recall:.3f} |")
    return body, p


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    ask_body, ask = ask_latency(args.repeats)
    n = 100_000 if args.quick else 1_000_000
    big_body, big = synthetic(n)
    command = "python -m bench.retrieval" + (" --quick" if args.quick else "")
    goals = (f"Goals: `ask` p99 ≤ 50 ms with the full knowledge base, on real questions where present "
             f"(measured p50 {ask['p50']:.2f} / p99 {ask['p99']:.2f}); "
             f"search at scale p99 ≤ 20 ms (measured {big['p99']:.2f}).")
    write_section("retrieval", command, goals + "\n\n### ask in process\n\n" + ask_body + "\n\n### search at scale\n\n" + big_body)
    print(goals)  # noqa: T201


if __name__ == "__main__":
    main()
