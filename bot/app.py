"""The ASGI app: web chat page and API, lawyer console, health check, and the idle sweeper."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from bot import guard, redact, retention
from bot.channels import configured_channels, web
from bot.channels.base import Channel
from bot.delivery import relay_forever
from bot.guard import RequestGuard
from bot.runtime import Runtime
from handoff import console, throttle
from handoff.sessions import purge_sessions

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"


def housekeeping(runtime: Runtime) -> None:
    """One pass of the timers: SLA escalations and reminders, offline lawyers' claims, idle chats, applications
    and appointments, and
    (once an hour) erasing what citizens wrote once the retention period is over."""
    settings = runtime.settings
    runtime.queue.sla_pass(dt.timedelta(minutes=settings.sla_escalate_minutes),
                           dt.timedelta(minutes=settings.sla_remind_minutes))
    runtime.queue.release_stale_claims(dt.timedelta(minutes=settings.lawyer_offline_minutes))
    runtime.engine.sweep()
    runtime.engine.desk.housekeeping(runtime.store)  # applications' time limits, drafts, appointment reminders
    purge_sessions(runtime.store)
    throttle.purge(runtime.store, dt.timedelta(minutes=settings.login_window_minutes + settings.login_lockout_minutes + 1))
    retention.erase_if_due(runtime.store, settings.retention_days, data_dir=settings.data_dir)


async def _sweeper(runtime: Runtime) -> None:
    while True:
        await asyncio.sleep(runtime.settings.sweep_interval_seconds)
        try:
            await asyncio.to_thread(housekeeping, runtime)
        except Exception:
            log.exception("housekeeping failed; will retry")


async def _inbox(runtime: Runtime) -> None:
    """Messages nobody is processing: a burst's fragments once their window passes, and what a killed
    worker left (at start-up too). Holding the citizen makes it safe for every worker to look."""
    while True:
        try:
            await asyncio.to_thread(runtime.engine.process_backlog)
        except Exception:
            log.exception("processing the inbox failed; will retry")
        await asyncio.sleep(runtime.settings.inbox_interval_seconds)


def create_app(runtime: Runtime, run_sweeper: bool = True, channels: list[Channel] | None = None) -> FastAPI:
    """The app; ``channels`` defaults to the push channels whose settings are present."""
    channels = configured_channels(runtime) if channels is None else channels
    settings = runtime.settings
    redact.add_secrets(settings.telegram_token, settings.telegram_secret_token, settings.wechat_token,
                       settings.wechat_app_secret, settings.wechat_aes_key,
                       *(getattr(channel, "secret_token", None) for channel in channels))

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(runtime.engine.warm_up)  # the first citizen must not wait for the models
        tasks = [asyncio.create_task(_sweeper(runtime)), asyncio.create_task(_inbox(runtime))] if run_sweeper else []
        for channel in channels:
            await channel.start()
        if channels:
            tasks.append(asyncio.create_task(relay_forever(runtime.store, {c.name: c for c in channels})))
        yield
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for channel in channels:
            await channel.stop()

    # The API's own description is a map for attackers: off unless LEGALBOT_API_DOCS asks for it.
    docs = runtime.settings.api_docs
    app = FastAPI(title="legalbot", lifespan=lifespan, docs_url="/api/docs" if docs else None, redoc_url=None,
                  openapi_url="/openapi.json" if docs else None)
    app.state.runtime = runtime
    if settings.trusted_proxies.strip():  # the client's address and scheme as the reverse proxy saw them
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=[h.strip() for h in settings.trusted_proxies.split(",")])

    # Added last, so outermost: body limit (uploads of materials up to their own limit), JSON sanity, headers.
    app.add_middleware(RequestGuard, larger=((guard.UPLOAD_PATH, settings.attachment_max_bytes),))

    @app.exception_handler(OverflowError)
    async def out_of_range(_: Request, exc: OverflowError) -> JSONResponse:
        # A number from the request too big for the database (SQLite takes 64-bit integers): nothing was
        # stored with it. Endpoints bound their numbers; this catches any they miss.
        return JSONResponse({"detail": "a number in the request is out of range (64-bit integers only)"},
                            status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error: %s", type(exc).__name__)
        # Handlers that store a message either stored it (then processing errors are answered with an
        # apology, not a 500) or failed before: so a 500 never means the message was kept.
        return JSONResponse({"detail": "internal error; please send it again"}, status_code=500)

    app.include_router(web.router(runtime.engine))
    for channel in channels:
        channel_router = channel.router()
        if channel_router is not None:
            app.include_router(channel_router)
    app.include_router(console.router(runtime.queue, settings, telegram=any(c.name == "telegram" for c in channels)))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def chat_page() -> FileResponse:
        return FileResponse(STATIC / "chat.html", media_type="text/html")

    @app.get("/console", include_in_schema=False)
    def console_page() -> FileResponse:
        return FileResponse(STATIC / "console.html", media_type="text/html")

    @app.get("/healthz")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
