"""Telegram's flood limits: 30 messages/s overall, one a second per private chat, 20 a minute per group."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Hashable
from typing import TYPE_CHECKING, Any

from aiolimiter import AsyncLimiter
from telegram.ext import AIORateLimiter

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

JSONDict = dict[str, Any]


class FloodLimiter(AIORateLimiter):
    """``AIORateLimiter`` plus Telegram's limit of about one message a second in a private chat.

    AIORateLimiter keeps the bot under 30 messages a second overall and 20 a minute per group, and
    after a 429 holds every request back for its ``retry_after`` before trying again, ``max_retries``
    times. It leaves private chats alone, so a reply of several messages would go out in one burst.
    """

    __slots__ = ("_chat_limiters", "_chat_rate")

    def __init__(self, max_retries: int = 3, chat_rate: float = 1.0) -> None:
        super().__init__(max_retries=max_retries)
        self._chat_rate = chat_rate
        self._chat_limiters: dict[int, AsyncLimiter] = {}

    def _chat_limiter(self, chat_id: int) -> AsyncLimiter:
        if len(self._chat_limiters) > 1024:  # forget chats whose limiter is idle again
            for key, limiter in list(self._chat_limiters.items()):
                if key != chat_id and limiter.has_capacity(limiter.max_rate):
                    del self._chat_limiters[key]
        if chat_id not in self._chat_limiters:
            self._chat_limiters[chat_id] = AsyncLimiter(max_rate=1, time_period=1 / self._chat_rate)
        return self._chat_limiters[chat_id]

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | JSONDict | list[JSONDict]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | JSONDict | list[JSONDict]:
        chat_id = data.get("chat_id")
        if self._chat_rate > 0 and isinstance(chat_id, int) and chat_id > 0:  # private chats only
            async with self._chat_limiter(chat_id):
                return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)
        return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)


class KeyedLocks:
    """One asyncio lock per key (a chat), forgotten when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self._users: dict[Hashable, int] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key], self._locks[key]


