"""An in-process channel for tests: ``chat.say("老板拖欠工资三个月了")`` and read the reply.

``TestChannel`` is a real ``Channel``: what a test says goes in through ``Channel.receive`` like
Telegram's and WeChat's updates, and what the relay delivers is collected in ``sent``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.channels.base import Channel
from bot.engine import Engine, Incoming, Reply
from bot.store import Conversation, Message
from bot.taxonomy import Kind


class TestChannel(Channel):
    __test__ = False  # not a pytest test class

    def __init__(self, engine: Engine, name: str = "testing") -> None:
        self.name = name
        self._engine = engine
        self.sent: list[tuple[str, Message]] = []

    @property
    def engine(self) -> Engine:
        return self._engine

    async def send(self, user_id: str, message: Message) -> str | None:
        self.sent.append((user_id, message))
        return str(message.id)


@dataclass
class TestChat:
    engine: Engine
    user_id: str = "citizen-1"
    channel: str = "testing"
    language: str | None = None
    replies: list[Reply] = field(default_factory=list)
    adapter: TestChannel | None = None

    __test__ = False  # not a pytest test class

    def __post_init__(self) -> None:
        self.adapter = self.adapter or TestChannel(self.engine, self.channel)

    def _send(self, **kwargs: object) -> list[Message]:
        assert self.adapter is not None
        reply = self.adapter.receive(Incoming(channel=self.channel, user_id=self.user_id, language=self.language,
                                              **kwargs))  # type: ignore[arg-type]
        self.replies.append(reply)
        return reply.messages
    def say(self, text: str) -> list[Message]:
        return self._send(text=text)

    def press(self, payload: str) -> list[Message]:
        return self._send(payload=payload)

    def send_kind(self, kind: str) -> list[Message]:
        return self._send(kind=kind)

    def share_location(self, latitude: float, longitude: float) -> list[Message]:
        return self._send(kind=Kind.location, latitude=latitude, longitude=longitude)

    def event(self, payload: str) -> list[Message]:
        """A platform event the channel reports as a payload (subscribing: ``/menu``)."""
        return self._send(kind=Kind.event, payload=payload)

    @property
    def notices(self) -> list[str]:
        return self.last.notices

    @property
    def last(self) -> Reply:
        return self.replies[-1]

    @property
    def last_text(self) -> str:
        return "\n".join(m.text for m in self.last.messages)

    def button_payloads(self) -> list[str]:
        return [b["payload"] for m in self.last.messages for b in m.buttons]

    def conversation(self) -> Conversation:
        with self.engine.store.session() as session:
            conversation = session.get(Conversation, self.last.conversation_id)
            assert conversation is not None
            return conversation
