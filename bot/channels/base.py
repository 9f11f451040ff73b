"""What every channel adapter shares: it turns its own updates into ``Incoming`` and shows replies."""

from __future__ import annotations

from abc import ABC, abstractmethod

from bot.engine import Engine


class Channel(ABC):
    #: Stored on every citizen and conversation; one per adapter.
    name: str

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @abstractmethod
    async def start(self) -> None:
        """Begin receiving updates (long polling, webhooks, a prompt)."""

    async def stop(self) -> None:
        return None
