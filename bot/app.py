"""The ASGI app: web chat page and API, lawyer console, health check, and the idle sweeper."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from bot.channels import configured_channels, web
from bot.channels.base import Channel
from bot.delivery import relay_forever
from bot.runtime import Runtime
from handoff import console

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
MAX_BODY = 256_000

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                               "script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
}


def secret_key(runtime: Runtime) -> str:
    if runtime.settings.secret_key:
        return runtime.settings.secret_key
    path = runtime.settings.data_dir / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def housekeeping(runtime: Runtime) -> None:
    """One pass of the timers: SLA escalations and reminders, offline lawyers' claims, idle chats."""
    settings = runtime.settings
    runtime.queue.sla_pass(dt.timedelta(minutes=settings.sla_escalate_minutes),
                           dt.timedelta(minutes=settings.sla_remind_minutes))
    runtime.queue.release_stale_claims(dt.timedelta(minutes=settings.lawyer_offline_minutes))
    runtime.engine.sweep()


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

    app = FastAPI(title="legalbot", lifespan=lifespan, docs_url="/api/docs", redoc_url=None)
    app.state.runtime = runtime
    app.add_middleware(SessionMiddleware, secret_key=secret_key(runtime), session_cookie="legalbot_console",
                       same_site="strict", https_only=False, max_age=12 * 3600)

    @app.middleware("http")
    async def guard(request: Request, call_next):  # type: ignore[no-untyped-def]
        length = request.headers.get("content-length")
        if length and (not length.isdigit() or int(length) > MAX_BODY):
            return JSONResponse({"detail": "request body too large"}, status_code=413)
        response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        return response

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
    app.include_router(console.router(runtime.queue, telegram=any(c.name == "telegram" for c in channels)))
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
