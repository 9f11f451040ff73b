"""Every setting in one typed place, read from the environment (prefix ``LEGALBOT_``) or ``.env``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The repository root (the package is installed in editable mode from it).
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEGALBOT_", env_file=".env", extra="ignore")

    #: Where the SQLite database, trained models and indexes live.
    data_dir: Path = Path("var")
    #: SQLAlchemy URL; SQLite under ``data_dir`` when unset.
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "LEGALBOT_DATABASE_URL")
    )

    host: str = "127.0.0.1"
    port: int = 8000
    #: Serve the API's description at /api/docs and /openapi.json (off in production: it maps every endpoint).
    api_docs: bool = False

    training_data_dir: Path = PROJECT_ROOT / "training_data"
    faq_dir: Path = PROJECT_ROOT / "knowledge_base" / "faq"

    #: ``builtin`` (scikit-learn, trained from training_data/) or ``rasa`` (a Rasa server's /model/parse).
    nlu_backend: str = "builtin"
    rasa_url: str = "http://127.0.0.1:5005"
    #: Below this top confidence a legal question is treated as ambiguous.
    nlu_fallback_threshold: float = 0.35
    #: When the top two topics are closer than this, the question is ambiguous.
    nlu_ambiguity_margin: float = 0.1

    #: A sentence-transformers model name or path; empty means the project's own Chinese encoder,
    #: trained from the knowledge base by ``legalbot kb build``.
    encoder_model: str = ""
    #: Also rank entries with the pretrained e5 encoder's vectors (nlu/semantic.py), fused by rank.
    kb_semantic: bool = True
    #: Fused retrieval score below which the bot does not answer.
    kb_answer_threshold: float = 0.6
    #: Below the answer threshold, entries scoring at least this are offered as "did you mean" questions.
    kb_suggest_threshold: float = 0.15

    #: Amounts in yuan above which a question goes to a lawyer.
    complex_amount_limit: int = 500_000

    #: Idle timeouts, in minutes, after which the sweeper closes a conversation.
    idle_timeout_bot_minutes: int = 30
    idle_timeout_waiting_minutes: int = 24 * 60
    idle_timeout_lawyer_minutes: int = 2 * 60
    sweep_interval_seconds: int = 60
    #: What citizens wrote (message texts, handoff packets, notes, comments) is erased this many days
    #: after their conversation closed, and a citizen silent that long loses their channel id; counts,
    #: services, topics and outcomes stay. 0 keeps everything (PIPL: no longer than the purpose needs).
    retention_days: int = Field(default=180, ge=0)
    #: The bureau's time zone: the reports count days and hours in it.
    timezone: str = "Asia/Shanghai"
    #: Reports: an answered conversation followed by another of the same citizen within this many days of
    #: closing was not durably solved (docs/reports.md).
    reopen_window_days: int = Field(default=7, ge=1, le=90)
    #: An application form left unfinished this long ends as ``abandoned`` and its answers are deleted.
    application_draft_days: int = Field(default=30, ge=1)
    #: The largest photo or PDF a citizen can send while an office asks for materials (services/attachments.py).
    attachment_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1)

    #: A burst: short fragments ("在吗", "我想问个事") are held this long for the rest of the question
    #: and answered together with it; 0 answers every message on its own.
    burst_window_seconds: float = 2.0
    #: Messages up to this many characters that would only get a greeting or a clarifying question are
    #: fragments worth holding.
    burst_fragment_chars: int = 12
    #: How often each worker looks for messages nobody has processed (held fragments, a killed worker).
    inbox_interval_seconds: float = 1.0

    #: Handoff SLA: an unclaimed ticket is escalated (raised to urgent) after this many minutes ...
    sla_escalate_minutes: int = 10
    #: ... and a lawyer silent this long in a claimed chat gets a reminder.
    sla_remind_minutes: int = 5
    #: A lawyer unseen this long is offline: their claimed chats go back to the queue.
    lawyer_offline_minutes: int = 15
    #: Lawyers' working hours (local time of the server) and days (1 = Monday); outside them the
    #: citizen is told when to expect a reply and where to call now.
    service_hours: str = "09:00-18:00"
    service_days: str = "1,2,3,4,5"

    # ---- Lawyer console (handoff/console.py, sessions.py, throttle.py) ---------------------------
    #: A console session ends after this many minutes without a request ...
    console_idle_minutes: int = 60
    #: ... and this many hours after login, whatever happens.
    console_session_hours: int = 12
    #: ``Secure`` on the console cookie: ``auto`` sets it when the request came over https, or ``true`` / ``false``.
    cookie_secure: Literal["auto", "true", "false"] = "auto"
    #: Reverse proxies (comma-separated addresses, or ``*``) whose X-Forwarded-Proto and X-Forwarded-For
    #: are believed, for the request's scheme (``cookie_secure=auto``) and client address (login throttling).
    trusted_proxies: str = "127.0.0.1"
    #: Failed logins to one account name within the window that lock the name for the lockout ...
    login_max_failures: int = 5
    #: ... and from one client address (an office behind one address has several lawyers).
    login_max_failures_per_address: int = 20
    login_window_minutes: int = 15
    login_lockout_minutes: int = 15

    # ---- Telegram (bot/channels/telegram/) --------------------------------------------------------
    #: The bot token from @BotFather; the channel starts when it is set.
    telegram_token: str | None = None
    #: ``polling`` for development, ``webhook`` for production (served by this app).
    telegram_mode: str = "polling"
    #: Public HTTPS URL of this app's Telegram webhook, e.g. https://bot.example.org/webhooks/telegram
    telegram_webhook_url: str | None = None
    #: Sent by Telegram in X-Telegram-Bot-Api-Secret-Token with every webhook call; generated if unset.
    telegram_secret_token: str | None = None
    #: Bot API base URL (tests point it at a fake server on 127.0.0.1).
    telegram_api_base: str = "https://api.telegram.org/bot"
    #: Chat id of the lawyers' group (negative) that gets each new ticket with a claim button (lawyer mode).
    telegram_lawyers_chat_id: int | None = None

    # ---- WeChat Official Account (bot/channels/wechat/) -----------------------------------------
    wechat_token: str | None = None
    wechat_app_id: str | None = None
    wechat_app_secret: str | None = None
    #: EncodingAESKey for safe mode; plaintext mode when unset.
    wechat_aes_key: str | None = None
    #: WeChat API base URL (tests point it at a fake server on 127.0.0.1).
    wechat_api_base: str = "https://api.weixin.qq.com/cgi-bin/"

    #: The bureau's city: districts and streets, the offices applications go to, the public legal service
    #: centres and their appointment slots (services/city.py); the shipped file is an example city.
    city_file: Path = PROJECT_ROOT / "services" / "data" / "city.yml"
    #: The province's economic hardship standards for legal aid, per area and date (法律援助法 art. 34);
    #: the shipped file is an example city's placeholders.
    legal_aid_standards_file: Path = PROJECT_ROOT / "services" / "data" / "legal_aid_standards.yml"
    #: The statistics the legal calculators use (average and minimum wages, incomes, the LPR), per area and
    #: date (calculators/figures.py); the shipped file's local figures are examples.
    calculator_figures: Path = PROJECT_ROOT / "calculators" / "data" / "figures.yml"


    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Asia/Shanghai)") from None
        return value

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'legalbot.db'}"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"


@lru_cache
def get_settings() -> Settings:
    return Settings()
