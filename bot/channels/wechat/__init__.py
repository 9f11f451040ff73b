"""The WeChat Official Account channel (wechatpy): webhook, passive replies, customer-service messages.

WeChat pushes each message to ``/webhooks/wechat`` and waits five seconds for the answer; without
one it retries, three times. So every request is checked first (signature in constant time, a fresh
timestamp, a nonce not used before with another body, a small body, well-formed XML), a redelivered
MsgId is dropped in the database, and the engine runs in a worker thread: when it is done within
``passive_timeout`` the reply goes back in the HTTP response (a *passive* reply, encrypted in safe
mode); otherwise the answer is "success" and the relay sends the stored messages later as
*customer-service* messages through the WeChat API.

Both paths claim a stored message with a conditional update before using it, so no message reaches
the citizen twice, even with several workers. Customer-service messages are only accepted for a while
after the citizen's last action (``reply_window``); a message that cannot be sent keeps the reason.

Buttons become a numbered text menu ("回复 1 有帮助"); a reply with the number presses the button. The
numbers are resolved from the stored messages, so they survive a restart.
"""

from __future__ import annotations

from bot.channels.wechat.channel import PATH, WeChatChannel
from bot.channels.wechat.render import TEXT_LIMIT, render, split_text
from bot.channels.wechat.request import CHANNEL, read_update
from bot.channels.wechat.window import MESSAGE_QUOTA, reply_window

__all__ = ["CHANNEL", "MESSAGE_QUOTA", "PATH", "TEXT_LIMIT", "WeChatChannel", "read_update", "render", "reply_window",
           "split_text"]
