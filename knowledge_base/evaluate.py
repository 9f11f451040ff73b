"""Retrieval quality on held-out queries: recall@k, MRR and out-of-scope rejection per mode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot import yamlio
from knowledge_base.index import SearchIndex

MODES = ("lexical", "dense", "fused")


def default_queries_path() -> Path:
    return Path(__file__).resolve().parent / "eval" / "queries.yml"


def load_queries(path: Path) -> list[dict[str, Any]]:
    """A list of {text, faq_id, also} items; faq_id null (or missing) marks an out-of-scope query; ``also``
    lists entries that answer the query as well (written after it was labelled)."""
    doc = yamlio.read(path) or []
    return [{"text": str(q["text"]), "faq_id": q.get("faq_id"), "also": list(q.get("also") or [])} for q in doc]


def evaluate(index: SearchIndex, path: Path, threshold: float) -> dict[str, Any]:
    queries = load_queries(path)
    modes: dict[str, Any] = {}
    for mode in MODES:
        hits1 = hits3 = answered_right = answered_wrong = 0
        rr = 0.0
        in_scope = oos = rejected = 0
        misses: list[dict[str, Any]] = []
        for q in queries:
            results = index.search(q["text"], k=10, mode=mode)
            if q["faq_id"] is None:
                oos += 1
                if not results or results[0].score < threshold:
                    rejected += 1
                else:
                    misses.append({"text": q["text"], "expected": None, "got": results[0].entry.id,
                                   "rank": None, "score": round(results[0].score, 4)})
                continue
            in_scope += 1
            ids = [h.entry.id for h in results]
            right = {q["faq_id"], *q["also"]}
            if results and results[0].score >= threshold:
                if ids[0] in right:
                    answered_right += 1
                else:
                    answered_wrong += 1
            rank = min((ids.index(i) + 1 for i in right if i in ids), default=None)
            if rank is not None:
                rr += 1 / rank
                hits1 += rank == 1
                hits3 += rank <= 3
            if rank != 1:
                misses.append({"text": q["text"], "expected": q["faq_id"], "got": ids[0] if ids else None,
                               "rank": rank, "score": round(results[0].score, 4) if results else None})
        modes[mode] = {
            "recall@1": hits1 / max(in_scope, 1), "recall@3": hits3 / max(in_scope, 1),
            "mrr": rr / max(in_scope, 1), "oos_rejection": rejected / max(oos, 1),
            # answered with the right entry / answered with a wrong one (a wrong legal answer is the worst case)
            "answered_correctly": answered_right / max(in_scope, 1), "wrong_answers": answered_wrong / max(in_scope, 1),
            "in_scope": in_scope, "out_of_scope": oos,
            #: queries whose entry was not first (rank null: not in the top 10) and out-of-scope queries answered
            "misses": misses,
        }
    return {"queries": len(queries), "threshold": threshold, "modes": modes}
