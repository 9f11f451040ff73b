"""Canned replies in the lawyer console: the bureau's shared ones (admins keep them) and each lawyer's own,
found by shortcut, title or words, with variables filled for the chat being answered; and the knowledge
base's FAQ answers with their legal basis, for a lawyer to insert into a reply.

The lawyer always edits before sending: nothing here sends anything to a citizen."""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field
from sqlmodel import Session, col, or_, select

from bot.settings import Settings
from bot.store import CannedReply, Citizen, Conversation, HandoffTicket, Lawyer, Store, utcnow
from bot.taxonomy import Service, Topic, display_name
from handoff.queue import audit
from knowledge_base.encoder import HashingEncoder
from knowledge_base.faq import Entry, load_entries
from knowledge_base.index import IndexUnavailable, SearchIndex

TITLE_MAX = 40
TEXT_MAX = 2000
SHORTCUT = re.compile(r"[a-z0-9][a-z0-9_-]{0,19}")
#: A variable in a reply's text: {称呼}. Longer or spaced braces are just text.
VARIABLE = re.compile(r"\{([^{}\s]{1,12})\}")

VARIABLES: dict[str, str] = {
    "称呼": "群众的称呼：知道姓名时为“张三，您”，否则为“您”（放在句首，如“{称呼}好”）",
    "法律领域": "本次咨询的法律领域，如“劳动争议”",
    "下一步": "按本次咨询的服务给出的下一步办理建议",
    "律师": "您的姓名（账号显示名）",
}

#: {下一步}: what a citizen can do next, per service; general on purpose (the lawyer adds the specifics).
NEXT_STEPS: dict[Service, str] = {
    Service.consultation: "整理好相关证据材料，可以到当地公共法律服务中心当面咨询，或拨打12348热线",
    Service.legal_aid: "携带身份证件和相关材料，向当地法律援助机构申请法律援助，并如实说明经济困难状况",
    Service.mediation: "向当地人民调解委员会（村委会、居委会或乡镇、街道的调解组织）申请调解，人民调解不收费",
    Service.lawyer: "带上相关材料，到律师事务所当面咨询，再决定是否委托律师",
    Service.notarization: "携带身份证件和相关材料，到公证机构咨询并申请办理公证",
    Service.judicial_appraisal: "如需司法鉴定，在诉讼中一般向办案机关提出申请，由办案机关委托依法登记的鉴定机构",
    Service.enterprise_complaint: "整理好相关材料，到当地公共法律服务中心提交，或拨打12348热线反映",
    Service.post_release_support: "联系户籍所在地或居住地的司法所，了解安置帮教的具体帮扶措施",
    Service.community_correction: "与负责的社区矫正机构或司法所保持联系，按要求报告情况",
    Service.drug_rehab: "联系所在乡镇、街道负责社区戒毒的工作人员，了解具体安排",
    Service.prison_visit: "按监狱公布的方式预约探视，并准备好身份证件和亲属关系证明",
}


class CannedError(Exception):
    """A canned-reply action that cannot be done; the message is safe to show the lawyer."""

    status = 400


class Invalid(CannedError):
    status = 422


class Forbidden(CannedError):
    status = 403


class NotFound(CannedError):
    status = 404


class Duplicate(CannedError):
    status = 409


# ---------- variables ----------

@dataclass(frozen=True)
class Context:
    """What the variables are filled with for one chat (or with no chat open)."""

    lawyer: str
    citizen: str | None = None
    topic: str | None = None
    service: str | None = None

    def values(self) -> dict[str, str]:
        topic = self.topic if self.topic in Topic.__members__ and self.topic != Topic.other else None
        service = Service(self.service) if self.service and self.service in Service.__members__ \
            else Service.consultation
        return {
            "称呼": f"{self.citizen}，您" if self.citizen else "您",
            "法律领域": display_name(Topic(topic)) if topic else "法律",
            "下一步": NEXT_STEPS[service],
            "律师": self.lawyer,
        }


def _citizen_name(raw: str | None) -> str | None:
    """A channel's display name as a form of address: printable, trimmed, short; None when unusable."""
    if not raw:
        return None
    name = "".join(ch for ch in raw if unicodedata.category(ch)[0] not in ("C",)).strip()
    return name[:20] or None


def context_for(session: Session, lawyer: Lawyer, ticket_id: int | None) -> Context:
    if ticket_id is None:
        return Context(lawyer=lawyer.display_name)
    ticket = session.get(HandoffTicket, ticket_id)
    if ticket is None:
        raise NotFound("找不到这个咨询")
    conversation = session.get(Conversation, ticket.conversation_id)
    citizen = session.get(Citizen, conversation.citizen_id) if conversation else None
    return Context(lawyer=lawyer.display_name, citizen=_citizen_name(citizen.display_name if citizen else None),
                   topic=ticket.topic or (conversation.topic if conversation else None),
                   service=ticket.service or (conversation.service if conversation else None))


def render(text: str, values: dict[str, str]) -> tuple[str, list[str]]:
    """The text with its known variables filled; unknown ones stay as typed and are returned."""
    unknown: list[str] = []

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in values:
            return values[name]
        if name not in unknown:
            unknown.append(name)
        return match.group(0)

    return VARIABLE.sub(fill, text), unknown


# ---------- listing and search ----------

def visible(session: Session, lawyer: Lawyer) -> list[CannedReply]:
    """The shared replies and the lawyer's own: their own first, each in the order they were added."""
    rows = session.exec(select(CannedReply).where(or_(col(CannedReply.owner_id).is_(None),
                                                      CannedReply.owner_id == lawyer.id))
                        .order_by(col(CannedReply.id))).all()
    return sorted(rows, key=lambda r: r.owner_id is None)


def rank(reply: CannedReply, query: str) -> int | None:
    """How well a reply matches what the lawyer typed (lower is better), or None: the shortcut exactly,
    the shortcut's start, the title, then the text. Chinese matches as substrings."""
    q = query.strip().lower()
    if not q:
        return 0
    shortcut = reply.shortcut.lower()
    if shortcut and shortcut == q:
        return 0
    if shortcut and shortcut.startswith(q):
        return 1
    if q in reply.title.lower():
        return 2
    if q in reply.text.lower():
        return 3
    return None


def search(session: Session, lawyer: Lawyer, query: str = "") -> list[CannedReply]:
    ranked = [(r, rank(r, query)) for r in visible(session, lawyer)]
    return [r for r, n in sorted(((r, n) for r, n in ranked if n is not None), key=lambda p: p[1])]


def editable(reply: CannedReply, lawyer: Lawyer) -> bool:
    return reply.owner_id == lawyer.id if reply.owner_id is not None else lawyer.role == "admin"


def public(reply: CannedReply, lawyer: Lawyer, values: dict[str, str]) -> dict[str, Any]:
    text, unknown = render(reply.text, values)
    return {"id": reply.id, "title": reply.title, "shortcut": reply.shortcut, "text": text,
            "template": reply.text, "shared": reply.owner_id is None, "mine": reply.owner_id == lawyer.id,
            "editable": editable(reply, lawyer), "unknown": unknown}


# ---------- changes ----------

def _clean(title: str, text: str, shortcut: str) -> tuple[str, str, str]:
    title, text, shortcut = title.strip(), text.strip(), shortcut.strip().lstrip("/").lower()
    if not text:
        raise Invalid("回复内容不能为空")
    if len(text) > TEXT_MAX:
        raise Invalid(f"回复内容太长：最多 {TEXT_MAX} 字，现在 {len(text)} 字")
    if not title:
        title = text[:12]
    if len(title) > TITLE_MAX:
        raise Invalid(f"标题太长：最多 {TITLE_MAX} 字")
    if shortcut and not SHORTCUT.fullmatch(shortcut):
        raise Invalid("快捷词只能用小写字母、数字、- 和 _，最多 20 个字符，例如 wh 或 zc-1")
    return title, text, shortcut


def _check_shortcut(session: Session, shortcut: str, owner_id: int | None, skip: int | None) -> None:
    """A shortcut picks one reply: shared ones must differ from every reply, a lawyer's from theirs and
    the shared ones."""
    if not shortcut:
        return
    clash = select(CannedReply).where(CannedReply.shortcut == shortcut)
    if owner_id is not None:
        clash = clash.where(or_(col(CannedReply.owner_id).is_(None), CannedReply.owner_id == owner_id))
    if skip is not None:
        clash = clash.where(CannedReply.id != skip)
    other = session.exec(clash).first()
    if other is not None:
        whose = "共享" if other.owner_id is None else ("您的" if other.owner_id == owner_id else "其他律师的")
        raise Duplicate(f"快捷词 /{shortcut} 已被{whose}常用回复“{other.title}”使用，请换一个")


def _editable_or_raise(session: Session, lawyer: Lawyer, reply_id: int) -> CannedReply:
    reply = session.get(CannedReply, reply_id)
    if reply is None:
        raise NotFound("找不到这条常用回复，可能已被删除")
    if reply.owner_id is None and lawyer.role != "admin":
        raise Forbidden("共享的常用回复只有管理员可以修改；可以另存为自己的常用回复")
    if reply.owner_id is not None and reply.owner_id != lawyer.id:
        raise Forbidden("这是其他律师的个人常用回复，只有本人可以修改")
    return reply


def create(session: Session, lawyer: Lawyer, title: str, text: str, shortcut: str = "",
           shared: bool = False) -> CannedReply:
    if shared and lawyer.role != "admin":
        raise Forbidden("只有管理员可以添加共享的常用回复；可以添加为自己的常用回复")
    title, text, shortcut = _clean(title, text, shortcut)
    owner = None if shared else lawyer.id
    _check_shortcut(session, shortcut, owner, None)
    reply = CannedReply(title=title, text=text, shortcut=shortcut, owner_id=owner)
    session.add(reply)
    session.flush()
    audit(session, lawyer.id, "canned_create", reply_id=reply.id, shared=shared)
    return reply


def update(session: Session, lawyer: Lawyer, reply_id: int, title: str, text: str,
           shortcut: str = "") -> CannedReply:
    reply = _editable_or_raise(session, lawyer, reply_id)
    title, text, shortcut = _clean(title, text, shortcut)
    _check_shortcut(session, shortcut, reply.owner_id, reply.id)
    reply.title, reply.text, reply.shortcut, reply.updated_at = title, text, shortcut, utcnow()
    session.add(reply)
    audit(session, lawyer.id, "canned_update", reply_id=reply.id, shared=reply.owner_id is None)
    return reply


def delete(session: Session, lawyer: Lawyer, reply_id: int) -> None:
    reply = _editable_or_raise(session, lawyer, reply_id)
    audit(session, lawyer.id, "canned_delete", reply_id=reply.id, shared=reply.owner_id is None)
    session.delete(reply)


# ---------- the knowledge base ----------

FAQ_RESULTS = 8
#: Below this the words merely brush an entry (one common character): not worth a lawyer's look.
FAQ_MIN_SCORE = 0.25


def faq_search(index: SearchIndex, query: str, k: int = FAQ_RESULTS) -> list[Entry]:
    """Entries for words a lawyer typed: the question's and paraphrases' words (BM25 over jieba words and
    characters, as the bot matches them), the answer's words at half weight, and a bonus for the exact
    words appearing in the question, answer or basis."""
    q = query.strip()
    if not q or not index.entries:
        return []
    _, _, lexical = index.scores(q, mode="lexical")
    scores = lexical + 0.5 * index.answers_bm25.scores(q)
    for i, entry in enumerate(index.entries):
        if q == entry.id or any(q in t for t in entry.texts):
            scores[i] += 1.0
        elif q in entry.answer or q in entry.basis_text():
            scores[i] += 0.5
    order = np.argsort(-scores, kind="stable")[:k]
    return [index.entries[i] for i in order if scores[i] >= FAQ_MIN_SCORE]


def faq_public(entry: Entry) -> dict[str, Any]:
    basis = entry.basis_text()
    answer = entry.answer.strip()
    return {"id": entry.id, "question": entry.question, "answer": answer, "basis": basis,
            "legal_basis": [{"law": c.law, "article": c.article} for c in entry.legal_basis],
            "next_step": entry.next_step, "topic": entry.topic.value, "topic_name": display_name(entry.topic),
            "lang": entry.lang, "insert": f"{answer}\n法律依据：{basis}" if basis else answer}


# ---------- the API ----------

class CannedIn(BaseModel):
    # Generous limits against abuse; the rules lawyers meet (with Chinese messages) are in _clean.
    title: str = Field(default="", max_length=1000)
    text: str = Field(max_length=20_000)
    shortcut: str = Field(default="", max_length=200)
    shared: bool = False


def router(store: Store, settings: Settings, on_duty: Callable[..., Lawyer]) -> APIRouter:
    """Mounted under the console's /api/console; ``on_duty``: its dependency for lawyers and admins."""
    api = APIRouter(tags=["lawyer console"])
    fallback: dict[str, SearchIndex] = {}
    fallback_lock = threading.Lock()

    def faq_index(request: Request) -> SearchIndex:
        """The index the bot answers from; without one (no runtime, none built) the FAQ files, read once."""
        runtime = getattr(request.app.state, "runtime", None)
        if runtime is not None:
            try:
                index: SearchIndex = runtime.kb.index
                return index
            except IndexUnavailable:
                pass
        with fallback_lock:
            if "index" not in fallback:
                fallback["index"] = SearchIndex(load_entries(settings.faq_dir), HashingEncoder())
            return fallback["index"]

    def refuse(exc: CannedError) -> HTTPException:
        return HTTPException(status_code=exc.status, detail=str(exc))

    def listed(session: Session, lawyer: Lawyer, reply: CannedReply, ticket: int | None) -> dict[str, Any]:
        return public(reply, lawyer, context_for(session, lawyer, ticket).values())

    @api.get("/canned")
    def list_canned(q: str = Query(default="", max_length=100), ticket: int | None = None,
                    lawyer: Lawyer = Depends(on_duty)) -> dict[str, Any]:
        """Shared and own replies matching ``q``, their text filled in for ``ticket``."""
        with store.reader() as session:
            try:
                values = context_for(session, lawyer, ticket).values()
            except CannedError as exc:
                raise refuse(exc) from None
            return {"replies": [public(r, lawyer, values) for r in search(session, lawyer, q)],
                    "variables": [{"name": k, "description": v} for k, v in VARIABLES.items()],
                    "can_edit_shared": lawyer.role == "admin"}

    @api.post("/canned", status_code=201)
    def add_canned(body: CannedIn, lawyer: Lawyer = Depends(on_duty)) -> dict[str, Any]:
        with store.session() as session:
            try:
                reply = create(session, lawyer, body.title, body.text, body.shortcut, body.shared)
            except CannedError as exc:
                raise refuse(exc) from None
            session.commit()
            return listed(session, lawyer, reply, None)

    @api.put("/canned/{reply_id}")
    def edit_canned(reply_id: int, body: CannedIn, lawyer: Lawyer = Depends(on_duty)) -> dict[str, Any]:
        with store.session() as session:
            try:
                reply = update(session, lawyer, reply_id, body.title, body.text, body.shortcut)
            except CannedError as exc:
                raise refuse(exc) from None
            session.commit()
            return listed(session, lawyer, reply, None)

    @api.delete("/canned/{reply_id}")
    def remove_canned(reply_id: int, lawyer: Lawyer = Depends(on_duty)) -> dict[str, bool]:
        with store.session() as session:
            try:
                delete(session, lawyer, reply_id)
            except CannedError as exc:
                raise refuse(exc) from None
            session.commit()
        return {"deleted": True}

    @api.get("/faq")
    def faq(request: Request, q: str = Query(default="", max_length=100),
            lawyer: Lawyer = Depends(on_duty)) -> dict[str, Any]:
        """FAQ answers with their legal basis, for inserting into a reply."""
        return {"entries": [faq_public(e) for e in faq_search(faq_index(request), q)]}

    return api
