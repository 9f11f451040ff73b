"""What every push channel adapter shares.

A channel turns its platform's updates into ``Incoming`` for the engine and delivers the stored
outgoing messages back; it never decides what to answer. Adding a channel touches its own module and
one line in ``bot/channels/__init__.py``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from fastapi import APIRouter

from bot.engine import Engine, Incoming, Reply
from bot.store import Message

if TYPE_CHECKING:
    from bot.runtime import Runtime


class Channel(ABC):
    #: Stored on every citizen and conversation; one per adapter.
    name: str

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    @property
    def engine(self) -> Engine:
        return self.runtime.engine

    def receive(self, incoming: Incoming) -> Reply:
        """The one way in: the engine stores, decides and answers (blocking; push channels call it
        from a worker thread). What comes back is rendered and sent by the channel."""
        return self.engine.handle(incoming)

    def router(self) -> APIRouter | None:
        """Webhook routes this channel adds to the app, if any."""
        return None

    async def start(self) -> None:
        """Begin receiving updates (long polling, registering a webhook)."""
        return None

    async def stop(self) -> None:
        return None

    @abstractmethod
    async def send(self, user_id: str, message: Message) -> str | None:
        """Deliver one stored outgoing message (used by the relay); raise bot.delivery.DeliveryError."""


def split_lines(text: str, limit: int, encoding: str | None = None) -> list[str]:
    """Cut a long text into pieces a platform accepts, at a line break where one is near.

    ``limit`` counts characters, or bytes of ``encoding`` where the platform counts those."""
    def size(rest: str) -> int:
        return len(rest.encode(encoding)) if encoding else len(rest)

    def fitting(rest: str) -> int:  # how many characters of ``rest`` fit
        return len(rest.encode(encoding)[:limit].decode(encoding, errors="ignore")) if encoding else limit

    pieces: list[str] = []
    rest = text
    while size(rest) > limit:
        fits = fitting(rest)
        newline = rest.rfind("\n", 0, fits)
        cut = newline + 1 if newline > fits // 2 else fits
        pieces.append(rest[:cut].rstrip("\n"))
        rest = rest[cut:]
    if rest or not pieces:
        pieces.append(rest)
    return pieces
