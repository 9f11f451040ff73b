"""Telegram lawyer mode: the lawyers' group and each lawyer's private chat with the bot.

* Every new ticket is posted to the lawyers' group (``LEGALBOT_TELEGRAM_LAWYERS_CHAT_ID``) with a Claim
  button; an SLA escalation posts it again, marked overdue; a claim or an end edits the post, so the
  group always sees who has which chat.
* A lawyer links their Telegram account once, by sending the bot ``/link CODE`` with a one-time code
  from the console or ``legalbot lawyer telegram-link``. Pressing Claim then claims the chat exactly once
  (the same conditional update as the console).
* The lawyer holding a chat gets the handoff packet and transcript in their private chat with the bot;
  what they write there goes to the citizen on the citizen's own channel, the citizen's messages come to
  them, a quiet chat gets the SLA reminder, and ``/resolve`` closes it with an outcome.

Nothing here is sent straight from the event that causes it. ``LawyerDesk.sync`` compares each ticket
with what Telegram has been shown of it (``TelegramTicketSync``) and sends what is missing, recording
each step as it goes; it runs every few seconds and at once after a claim. So a post, a briefing or a
forwarded message survives a restart or a Telegram outage, and a lease on the row keeps two workers
from sending the same thing.
"""

from __future__ import annotations

from bot.channels.telegram.lawyers.desk import LawyerDesk
from bot.channels.telegram.lawyers.sync import is_link_command
from bot.channels.telegram.lawyers.views import parse_resolve

__all__ = ["LawyerDesk", "is_link_command", "parse_resolve"]
