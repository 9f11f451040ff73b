"""The Telegram channel (python-telegram-bot v22): long polling for development, a webhook for production.

``LEGALBOT_TELEGRAM_MODE=polling`` runs the library's updater inside our event loop;
``webhook`` registers ``POST /webhooks/telegram`` of this app with ``setWebhook`` and a secret token
that every request must carry. Either way each update goes through ``TelegramChannel.handle_update``:

1. its ``update_id`` is recorded with ``first_delivery`` before anything else, so a redelivery, even one
   that arrives while the first copy is still being processed, is dropped;
2. the message is stored and answered by the engine in a worker thread (the engine is synchronous),
   or, for what only Telegram has (commands, the language switch, data deletion, shared locations), by
   this module, which stores its replies the same way;
3. the stored replies are sent by the relay path (``deliver_pending``), which claims each message
   before sending it, so each reaches the citizen once and is marked delivered.

Every Bot API call passes ``FloodLimiter``: 30 messages/s overall, one per second in a private chat,
20 a minute in a group, and a retry once a 429's ``retry_after`` has passed. What still fails becomes a
``DeliveryError`` and the relay tries again later, so no reply is lost.
"""

from __future__ import annotations

from bot.channels.telegram.channel import CHANNEL, TelegramChannel
from bot.channels.telegram.flood import FloodLimiter
from bot.channels.telegram.render import inline_keyboard, split_text
from bot.channels.telegram.webhook import SECRET_HEADER, WEBHOOK_PATH

__all__ = ["CHANNEL", "SECRET_HEADER", "WEBHOOK_PATH", "FloodLimiter", "TelegramChannel", "inline_keyboard",
           "split_text"]
