"""`legalbot kb validate`: what must be true of content before it can answer a citizen."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.settings import PROJECT_ROOT
from knowledge_base.faq import Entry
from nlu.text import chinese_numeral, is_chinese, normalize

#: Laws repealed by the Civil Code (2021-01-01) and other superseded texts: never cite them.
REPEALED = {
    "合同法": "民法典合同编", "婚姻法": "民法典婚姻家庭编", "继承法": "民法典继承编", "物权法": "民法典物权编",
    "侵权责任法": "民法典侵权责任编", "担保法": "民法典物权编/合同编", "民法通则": "民法典总则编",
    "民法总则": "民法典总则编", "收养法": "民法典婚姻家庭编",
}
#: Laws cited with a year that is no longer in force, e.g. "行政复议法（2017年修正）".
_OLD_VERSION = re.compile(r"(行政复议法)[（(](19|20)(\d\d)")
STALE_AFTER = dt.timedelta(days=365)


@dataclass
class Report:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    statutes_checked: bool = False


def default_statutes_dir() -> Path:
    return PROJECT_ROOT.parent / "shared" / "statutes"


_ARTICLE = re.compile(r"^第([零一二三四五六七八九十百千]+)条")


def statute_articles(directory: Path) -> dict[str, set[int]]:
    """Law name -> article numbers present, read from one Markdown file per law."""
    laws: dict[str, set[int]] = {}
    for path in sorted(directory.glob("*.md")):
        if path.stem.upper() == "README":
            continue
        name = path.stem.split("·")[0]  # the Civil Code is split by book; articles are numbered throughout
        articles = laws.setdefault(name, set())
        for line in path.read_text(encoding="utf-8").splitlines():
            m = _ARTICLE.match(line.strip())
            if m:
                articles.add(chinese_numeral(m.group(1)))
    return laws


def _units(text: str) -> set[str]:
    """Characters for Chinese, words for other languages: what near-duplicate means in each."""
    text = normalize(text)
    if is_chinese(text):
        return set(text) - {" "}
    return set(re.findall(r"[a-z0-9']+", text))


def validate(entries: Sequence[Entry], statutes_dir: Path | None, today: dt.date | None = None) -> Report:
    report = Report()
    today = today or dt.date.today()
    laws = statute_articles(statutes_dir) if statutes_dir and statutes_dir.is_dir() else {}
    report.statutes_checked = bool(laws)
    for e in entries:
        where = f"{e.source}: {e.id}"
        if len(e.paraphrases) < 4:
            report.errors.append(f"{where}: needs at least 4 paraphrases, has {len(e.paraphrases)}")
        for c in e.legal_basis:
            bare = c.law.removeprefix("中华人民共和国")
            if bare in REPEALED:
                report.errors.append(f"{where}: cites {c.law}, repealed — cite {REPEALED[bare]} instead")
                continue
            if _OLD_VERSION.search(c.law):
                report.errors.append(f"{where}: cites a superseded version: {c.law}")
                continue
            if laws:
                if bare not in laws:
                    report.warnings.append(f"{where}: {c.law} is not among the statute texts; article not checked")
                elif c.article is not None and c.article not in laws[bare]:
                    report.errors.append(f"{where}: {c.law} has no article {c.article}")
        if today - e.last_reviewed > STALE_AFTER:
            report.warnings.append(f"{where}: last reviewed {e.last_reviewed}, more than 12 months ago")
        if e.last_reviewed > today:
            report.errors.append(f"{where}: last_reviewed {e.last_reviewed} is in the future")
    for a, b, same in _near_duplicates(entries):
        if same:
            report.errors.append(f"{a.id} and {b.id} ask the same question")
        else:
            report.warnings.append(f"{a.id} and {b.id} ask nearly the same question")
    return report


def _near_duplicates(entries: Sequence[Entry], limit: float = 0.85) -> list[tuple[Entry, Entry, bool]]:
    """Pairs of entries in one language whose questions are equal, or overlap in more than ``limit``
    of their units (Jaccard): one sparse product instead of comparing every pair in Python."""
    import numpy as np
    from scipy.sparse import csr_matrix

    questions = [normalize(e.question) for e in entries]
    units = [_units(q) for q in questions]
    vocab: dict[str, int] = {}
    rows, cols = [], []
    for i, u in enumerate(units):
        for unit in u:
            rows.append(i)
            cols.append(vocab.setdefault(unit, len(vocab)))
    matrix = csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(entries), max(len(vocab), 1)))
    sizes = np.array([len(u) for u in units], dtype=np.float32)
    overlap = (matrix @ matrix.T).tocoo()
    found = []
    for i, j, shared in zip(overlap.row, overlap.col, overlap.data, strict=True):
        if i >= j or entries[i].lang != entries[j].lang:
            continue
        same = questions[i] == questions[j]
        if same or shared / max(sizes[i] + sizes[j] - shared, 1.0) > limit:
            found.append((entries[i], entries[j], same))
    return found
