"""Photos and PDFs a citizen sends while an office asks for materials (issue 14), kept for the office.

Only what an office can read safely is kept: JPEG, PNG, WebP and PDF, told apart by their first bytes (a
channel's content type and the file's name are the sender's word, not the file's). Each file is written
under ``<data_dir>/attachments/<YYYY-MM>/<32 random hex>``, 0600 in 0700 folders; the name the citizen gave
is kept, sanitised, only in the row, so nothing the citizen chose ever becomes part of a path.

Channels download a file only when the citizen has an application waiting for materials
(``services.desk.Desk.awaits_materials``); the desk then links it to that application.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import re
import secrets
import unicodedata
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from sqlmodel import Session, col, select

from bot.store import Application, Attachment, Citizen, Store, private_dir, utcnow

log = logging.getLogger(__name__)

FOLDER = "attachments"
#: (magic bytes at the start, content type, kind, file suffix); WebP is a RIFF file with "WEBP" at 8.
_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg", "photo", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "photo", ".png"),
    (b"%PDF-", "application/pdf", "document", ".pdf"),
)
_SUFFIXES = {"image/jpeg": (".jpg", ".jpeg"), "image/png": (".png",), "image/webp": (".webp",),
             "application/pdf": (".pdf",)}
#: What ``accept`` on the web page's file input lists.
ACCEPTED_TYPES = tuple(_SUFFIXES)
MAX_FILENAME = 128
_STORED_PATH = re.compile(r"^\d{4}-\d{2}/[0-9a-f]{32}$")

NOT_ACCEPTED = "只能发送照片（JPG、PNG、WebP）或PDF文件"
EMPTY = "文件是空的，请重新发送"
FAILED = "文件没有收到，请稍后重新发送"


class AttachmentError(ValueError):
    """A file refused; the message is for the citizen."""


def too_large(limit: int) -> str:
    megabytes = limit / (1024 * 1024)
    return f"文件太大，请不要超过{megabytes:.0f}MB" if megabytes >= 1 else f"文件太大，请不要超过{max(1, limit // 1024)}KB"


def recognise(content: bytes) -> tuple[str, str, str] | None:
    """(content type, kind, suffix) from the file's first bytes, or None for anything else."""
    for magic, content_type, kind, suffix in _SIGNATURES:
        if content.startswith(magic):
            return content_type, kind, suffix
    if len(content) >= 12 and content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp", "photo", ".webp"
    return None


def clean_filename(name: str | None, content_type: str, kind: str) -> str:
    """The citizen's name for the file as the office may show it: its last path part, no control or
    formatting characters (a right-to-left override can disguise ``gpj.exe`` as ``exe.jpg``), at most
    128 characters, and a suffix that matches what the file really is."""
    name = unicodedata.normalize("NFC", name or "").replace("\\", "/").split("/")[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] not in "CZ" or ch == " ").strip(" .")
    suffixes = _SUFFIXES[content_type]
    stem, dot, suffix = name.rpartition(".")
    if not dot or "." + suffix.lower() not in suffixes:
        stem = name
    stem = stem.strip(" .") or ("照片" if kind == "photo" else "文件")
    return stem[:MAX_FILENAME - len(suffixes[0])] + suffixes[0]


def check_size(size: int | None, limit: int) -> None:
    """Refuse a file the channel says is too large, before downloading it."""
    if size is not None and size > limit:
        raise AttachmentError(too_large(limit))


def folder(data_dir: Path) -> Path:
    return Path(data_dir) / FOLDER


def save(session: Session, data_dir: Path, citizen_id: int, content: bytes, filename: str | None, *,
         channel: str = "", limit: int | None = None) -> Attachment:
    """Check and write one file and add its row (the caller commits); ``AttachmentError`` says why not.

    ``limit``: the largest size accepted (``settings.attachment_max_bytes``; the default setting if None)."""
    if limit is None:
        from bot.settings import Settings

        limit = int(Settings.model_fields["attachment_max_bytes"].default)
    if not content:
        raise AttachmentError(EMPTY)
    check_size(len(content), limit)
    recognised = recognise(content)
    if recognised is None:
        raise AttachmentError(NOT_ACCEPTED)
    content_type, kind, _ = recognised
    now = utcnow()
    month = private_dir(private_dir(folder(data_dir)) / f"{now:%Y-%m}")
    name = secrets.token_hex(16)
    target, relative = month / name, f"{month.name}/{name}"
    # O_EXCL and O_NOFOLLOW: never write through a file or link that is already there.
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        os.fchmod(descriptor, 0o600)  # whatever the umask
        with os.fdopen(descriptor, "wb") as file:
            descriptor = -1
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
    except BaseException:
        if descriptor >= 0:
            os.close(descriptor)
        target.unlink(missing_ok=True)
        raise
    attachment = Attachment(citizen_id=citizen_id, channel=channel[:32], kind=kind, content_type=content_type,
                            filename=clean_filename(filename, content_type, kind), size=len(content),
                            sha256=hashlib.sha256(content).hexdigest(), path=relative, created_at=now)
    session.add(attachment)
    session.flush()
    return attachment


def receive(store: Store, data_dir: Path, channel: str, user_id: str, content: bytes, filename: str | None,
            limit: int) -> Attachment:
    """A channel's downloaded file, saved for the citizen (its id goes in ``Incoming.attachment_id``)."""
    with store.session() as session:
        citizen_id = session.exec(select(Citizen.id).where(Citizen.channel == channel,
                                                           Citizen.channel_user_id == user_id)).first()
        if citizen_id is None:
            raise AttachmentError(FAILED)
        attachment = save(session, data_dir, citizen_id, content, filename, channel=channel, limit=limit)
        session.commit()
        return attachment


def open_file(data_dir: Path, attachment: Attachment) -> Path:
    """The file of a stored attachment; ``FileNotFoundError`` for a path that is not one this module wrote
    (a row edited by hand must not open ``../../etc/passwd``) or a file that is gone."""
    root = folder(data_dir).resolve()
    if not _STORED_PATH.match(attachment.path or ""):
        raise FileNotFoundError("not an attachment path")
    path = (root / PurePosixPath(attachment.path)).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise FileNotFoundError("attachment file missing")
    return path


def for_application(session: Session, application_id: int) -> list[Attachment]:
    """What the citizen sent for one application, oldest first (the office's console lists them)."""
    return list(session.exec(select(Attachment).where(Attachment.application_id == application_id)
                             .order_by(col(Attachment.id))).all())


def link(session: Session, attachment_id: int, citizen_id: int, application_id: int | None,
         message_id: int | None) -> Attachment | None:
    """Attach a citizen's file to their application and the message that brought it."""
    attachment = session.get(Attachment, attachment_id)
    if attachment is None or attachment.citizen_id != citizen_id:
        return None
    attachment.application_id = application_id
    attachment.message_id = message_id
    session.add(attachment)
    return attachment


def _delete(session: Session, data_dir: Path, attachments: Iterable[Attachment]) -> int:
    deleted = 0
    for attachment in attachments:
        try:
            open_file(data_dir, attachment).unlink(missing_ok=True)
        except FileNotFoundError:
            pass  # gone already, or a path this module never wrote: nothing of ours to remove
        except OSError:
            log.exception("could not delete the file of attachment %s", attachment.id)
        session.delete(attachment)
        deleted += 1
    session.flush()
    return deleted


def delete_for_citizen(session: Session, data_dir: Path, citizen_id: int) -> int:
    """A citizen deleting their data: every file they sent and its row; how many. The caller commits."""
    return _delete(session, data_dir, session.exec(select(Attachment).where(Attachment.citizen_id == citizen_id)))


def delete_ended(session: Session, data_dir: Path, cutoff: dt.datetime, final: Iterable[str]) -> int:
    """Retention: the files of applications that ended (``final`` statuses) before ``cutoff``."""
    ended = select(Application.id).where(col(Application.status).in_(list(final)), col(Application.closed_at) < cutoff)
    return _delete(session, data_dir, session.exec(select(Attachment).where(col(Attachment.application_id).in_(ended))))
