"""Personal numbers, platform ids and secrets never reach a log line.

``redact`` masks ID card, phone and bank card numbers, WeChat openids, web-chat client ids, Telegram bot
tokens, the values of secret-bearing query parameters, and every secret the app was configured with.
``RedactingFormatter`` applies it to the *finished* line (message, traceback and stack), so nothing a
handler prints escapes it; ``log_config`` gives the app's and uvicorn's loggers (root, ``uvicorn.error``,
``uvicorn.access``) only such handlers, and ``legalbot serve`` hands it to uvicorn.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

#: Query parameters and ``key=value`` pairs whose value is a secret or identifies a person.
SECRET_KEYS = ("signature", "msg_signature", "nonce", "token", "openid", "unionid", "echostr", "secret",
               "secret_token", "access_token", "appsecret", "app_secret", "client_id", "chat_secret",
               "encodingaeskey", "aes_key", "password", "code", "key")

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # Telegram bot tokens (123456789:AA…, 35 characters after the colon), also inside /bot<token>/ paths
    (re.compile(r"(?<![0-9])\d{5,12}:[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])"), "[TOKEN]"),
    # the value of secret-bearing query parameters and key=value pairs (?signature=…&nonce=…&openid=…)
    (re.compile(r"(?i)(?<![A-Za-z0-9_])(" + "|".join(SECRET_KEYS) + r")=[^&\s\"'<>,;]+"), r"\1=[REDACTED]"),
    # the Telegram webhook's and the web chat's secret headers, should a request's headers ever be logged
    (re.compile(r"(?i)((?:secret[-_]token|chat[-_]secret)['\"]?\s*[:=]\s*['\"]?)[A-Za-z0-9_-]+"), r"\1[REDACTED]"),
    # web chat client ids in API paths (/api/chat/<client id>/messages)
    (re.compile(r"(/api/chat/)[^/\s?\"']+"), r"\1[CLIENT]"),
    # WeChat openids and unionids: 28 characters of [A-Za-z0-9_-] starting with "o", with a digit in them
    (re.compile(r"(?<![A-Za-z0-9_-])o(?=[A-Za-z_-]{0,26}\d)[A-Za-z0-9_-]{27}(?![A-Za-z0-9_-])"), "[OPENID]"),
    # 18-digit resident ID (last may be X) and the old 15-digit form
    (re.compile(r"(?<!\d)\d{6}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?!\d)"), "[ID]"),
    (re.compile(r"(?<!\d)\d{6}\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}(?!\d)"), "[ID]"),
    # bank cards: 16-19 digits, written together or in groups of four
    (re.compile(r"(?<![\d-])(?:\d{16,19}|\d{4}(?:[ -]\d{4}){3}(?:[ -]?\d{1,3})?)(?![\d-])"), "[CARD]"),
    # mainland mobile numbers, with optional +86 / 86 and separators
    (re.compile(r"(?<!\d)(?:\+?86[ -]?)?1[3-9]\d[ -]?\d{4}[ -]?\d{4}(?!\d)"), "[PHONE]"),
    # landlines such as 010-12345678
    (re.compile(r"(?<!\d)0\d{2,3}-\d{7,8}(?!\d)"), "[PHONE]"),
]
#: Shorter bank cards (13-15 digits) are masked when their Luhn check digit holds, so that most other
#: long numbers (millisecond timestamps, message ids) stay readable.
_SHORT_CARD = re.compile(r"(?<![\d-])\d{13,15}(?![\d-])")

#: Values the app was configured with or derived (bot tokens, webhook secrets, the session key).
_secrets: set[str] = set()


def add_secrets(*values: str | None) -> None:
    """Mask these exact strings wherever they appear (values shorter than 8 characters are ignored)."""
    _secrets.update(v for v in values if v and len(v) >= 8)


def _luhn(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def redact(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "[SECRET]")
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return _SHORT_CARD.sub(lambda m: "[CARD]" if _luhn(m.group()) else m.group(), text)


class RedactingFormatter(logging.Formatter):
    """Redacts the finished line: the message, the formatted traceback and any stack, whoever logged it.

    A filter sees a record before its traceback is formatted; the formatter is the last step, so this is
    where uvicorn's tracebacks ("Exception in ASGI application") and access lines are caught."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))

    def formatException(self, ei: Any) -> str:  # noqa: N802 (logging's name)
        return redact(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return redact(super().formatStack(stack_info))


class RedactingFilter(logging.Filter):
    """Rewrites each record's final message (and exception text) with personal numbers masked, so
    handlers that are not ours (a test's log capture) see the redacted record too."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg = cleaned
            record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


LINE = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: Libraries whose INFO lines are noise (and, for httpx, full request URLs with bot tokens in them).
QUIET = ("httpx", "httpcore", "faiss.loader", "sentence_transformers", "telegram.ext", "urllib3")


def log_config(level: int | str = logging.INFO, stream: Any = "ext://sys.stderr") -> dict[str, Any]:
    """One logging configuration for the app and uvicorn (``uvicorn.run(log_config=...)``): every
    handler redacts, and uvicorn's loggers write through the same handler as the app's."""
    level_name = logging.getLevelName(level) if isinstance(level, int) else level.upper()
    handler = {"class": "logging.StreamHandler", "formatter": "redacting", "filters": ["redact"],
               "stream": stream}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": "bot.redact.RedactingFilter"}},
        "formatters": {"redacting": {"()": "bot.redact.RedactingFormatter", "fmt": LINE}},
        "handlers": {"default": handler},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level_name, "propagate": False},
            "uvicorn.error": {"level": level_name},
            "uvicorn.access": {"handlers": ["default"], "level": "INFO", "propagate": False},
            **{name: {"level": "WARNING"} for name in QUIET},
        },
        "root": {"handlers": ["default"], "level": level_name},
    }


def install(level: int = logging.INFO) -> None:
    """Configure logging for a CLI command: a redacting handler on the root (added once), the redacting
    filter on any other handler already there, uvicorn's loggers through the root."""
    root = logging.getLogger()
    if not any(isinstance(h.formatter, RedactingFormatter) for h in root.handlers):
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(RedactingFormatter(LINE))
        root.addHandler(stream)
    root.setLevel(level)
    for handler in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
