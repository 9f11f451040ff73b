"""Waiting for something to happen in a test: poll a condition until a deadline instead of a fixed sleep."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float = 15.0, interval: float = 0.05,
               message: str = "condition not reached") -> T:
    """Return the predicate's first truthy result; fail the test if there is none within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} within {timeout} s")
        time.sleep(interval)


async def until(predicate: Callable[[], T], timeout: float = 15.0, interval: float = 0.05,
                message: str = "condition not reached") -> T:
    """``wait_until`` for a coroutine: the event loop keeps running while it waits."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} within {timeout} s")
        await asyncio.sleep(interval)
