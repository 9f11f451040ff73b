"""Channel adapters. Each push channel registers here and starts when its settings are present."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.channels.base import Channel
    from bot.runtime import Runtime


def configured_channels(runtime: Runtime) -> list[Channel]:
    """The push channels whose credentials are configured (web chat and the terminal are always there)."""
    settings = runtime.settings
    channels: list[Channel] = []
    if settings.telegram_token:
        from bot.channels.telegram import TelegramChannel

        channels.append(TelegramChannel(runtime))
    if settings.wechat_token:
        from bot.channels.wechat import WeChatChannel

        channels.append(WeChatChannel(runtime))
    return channels
