"""The statistics view in the console (issue 15): for the bureau's managers (role ``manager``) and admins.

Figures only: volumes, outcomes, waiting, satisfaction, the applications' funnel and lawyers' workload, over a
date range and filters, with each figure's definition; and the same rows as CSV, XLSX or JSON. A manager never
reads a citizen's chat: the queue and the chats answer 403 to a manager account (handoff/console.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from sqlalchemy import select as sa_select
from sqlmodel import col

from bot.settings import Settings
from bot.store import Conversation, Lawyer, Store, utcnow
from bot.taxonomy import Service, Topic, display_name
from handoff.queue import audit
from reports import export, gaps, metrics, weekly
from reports.metrics import Scope, ScopeError
from services import applications as apps
from services.city import CityFile

MANAGERS = ("manager", "admin")


def router(store: Store, settings: Settings, current_lawyer: Callable[..., Lawyer],
           city: CityFile | None = None) -> APIRouter:
    api = APIRouter(prefix="/stats", tags=["statistics"])
    city = city or CityFile(settings.city_file)

    def manager(lawyer: Lawyer = Depends(current_lawyer)) -> Lawyer:
        if lawyer.role not in MANAGERS:
            raise HTTPException(status_code=403, detail="只有管理人员和管理员可以查看统计")
        return lawyer

    def scope(since: dt.date | None = None, until: dt.date | None = None, channel: str | None = None,
              service: str | None = None, topic: str | None = None, district: str | None = None,
              language: str | None = None, urgent: bool | None = None) -> Scope:
        until = until or utcnow().astimezone(ZoneInfo(settings.timezone)).date()
        since = since or until - dt.timedelta(days=29)
        try:
            return Scope(since, until, settings.timezone, channel=channel or None, service=service or None,
                         topic=topic or None, district=district or None, language=language or None, urgent=urgent)
        except ScopeError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None

    def office_names() -> dict[str, str]:
        try:
            return {o.id: o.name for o in city.get().offices}
        except Exception:  # an unreadable city file: the ids still say which office
            return {}

    @api.get("")
    def overview(chosen: Scope = Depends(scope), _: Lawyer = Depends(manager)) -> dict[str, Any]:
        with store.reader() as session:
            figures = metrics.overview(session, chosen, sla_minutes=settings.sla_escalate_minutes,
                                       reopen_days=settings.reopen_window_days, forms=apps.forms(),
                                       office_names=office_names())
        figures["reason_names"] = metrics.REASONS
        figures["definitions"] = {k: zh for k, (zh, _) in metrics.DEFINITIONS.items()}
        return figures

    @api.get("/options")
    def options(_: Lawyer = Depends(manager)) -> dict[str, Any]:
        """What the filters offer: the taxonomy, the channels and districts seen, the city's districts."""
        with store.reader() as session:
            channels = sorted(c for c in session.execute(sa_select(col(Conversation.channel)).distinct()).scalars() if c)
            seen = {d for d in session.execute(sa_select(col(Conversation.district)).distinct()).scalars() if d}
        try:
            districts = list(city.get().districts)
        except Exception:
            districts = []
        return {"channels": channels,
                "services": [{"value": s.value, "label": display_name(s, "zh")} for s in Service],
                "topics": [{"value": t.value, "label": display_name(t, "zh")} for t in Topic],
                "districts": districts + sorted(seen - set(districts)),
                "languages": [{"value": "zh", "label": "中文"}, {"value": "en", "label": "English"}],
                "breakdowns": list(metrics.BREAKDOWNS)}

    @api.get("/export")
    def download(chosen: Scope = Depends(scope), by: str = Query("day"), format: str = Query("csv"),
                 lawyer: Lawyer = Depends(manager)) -> Response:
        if format not in export.FORMATS:
            raise HTTPException(status_code=422, detail="format must be csv, xlsx or json")
        with store.session() as session:
            try:
                rows = metrics.report_rows(session, chosen, by, sla_minutes=settings.sla_escalate_minutes,
                                           reopen_days=settings.reopen_window_days)
            except ScopeError as exc:
                raise HTTPException(status_code=422, detail=str(exc)) from None
            audit(session, lawyer.id, "stats_export", None, format=format, by=by, since=chosen.since.isoformat(),
                  until=chosen.until.isoformat(), filters=chosen.filters())
            session.commit()
        body = export.render(rows, format, by, {"since": chosen.since.isoformat(), "until": chosen.until.isoformat(),
                                                "timezone": chosen.timezone, "filters": chosen.filters()})
        name = f"legalbot-{chosen.since:%Y%m%d}-{chosen.until:%Y%m%d}-{by}.{format}"
        return Response(body, media_type=export.MEDIA_TYPES[format],
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    def find_gaps(chosen: Scope, limit: int) -> gaps.Gaps:
        with store.reader() as session:
            return gaps.gaps(session, chosen, limit, low_confidence=settings.nlu_fallback_threshold,
                             background=gaps.background_texts(settings.training_data_dir))

    @api.get("/gaps")
    def content_gaps(chosen: Scope = Depends(scope), limit: int = Query(gaps.DEFAULT_LIMIT, ge=1, le=gaps.MAX_LIMIT),
                     _: Lawyer = Depends(manager)) -> dict[str, Any]:
        """The questions the bot did not answer well, clustered (reports/gaps.py): redacted examples and counts,
        no message ids."""
        return find_gaps(chosen, limit).as_dict()

    @api.get("/gaps/export")
    def download_gaps(chosen: Scope = Depends(scope), format: str = Query("csv"),
                      limit: int = Query(gaps.DEFAULT_LIMIT, ge=1, le=gaps.MAX_LIMIT),
                      lawyer: Lawyer = Depends(manager)) -> Response:
        """The maintainers' files: the review YAML (``legalbot nlu review --apply``) or the kb-gaps CSV."""
        if format not in ("yaml", "csv"):
            raise HTTPException(status_code=422, detail="format must be yaml or csv")
        result = find_gaps(chosen, limit)
        with store.session() as session:
            audit(session, lawyer.id, "stats_gaps_export", None, format=format, limit=limit,
                  since=chosen.since.isoformat(), until=chosen.until.isoformat(), filters=chosen.filters(),
                  questions=result.questions, clusters=len(result.clusters))
            session.commit()
        stem = f"{chosen.since:%Y%m%d}-{chosen.until:%Y%m%d}"
        if format == "yaml":
            body, media, name = gaps.review_yaml(result.clusters).encode("utf-8"), "application/yaml; charset=utf-8", \
                f"gaps-review-{stem}.yml"
        else:
            body, media, name = gaps.kb_gaps_csv(result), "text/csv; charset=utf-8", f"kb-gaps-{stem}.csv"
        return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @api.get("/report")
    def forwardable(chosen: Scope = Depends(scope), lawyer: Lawyer = Depends(manager)) -> Response:
        """The self-contained HTML report of the range against the period before (reports/weekly.py)."""
        with store.session() as session:
            page = weekly.render(session, chosen, sla_minutes=settings.sla_escalate_minutes,
                                 reopen_days=settings.reopen_window_days, forms=apps.forms(),
                                 office_names=office_names())
            audit(session, lawyer.id, "stats_report", None, since=chosen.since.isoformat(),
                  until=chosen.until.isoformat(), filters=chosen.filters())
            session.commit()
        name = f"legalbot-report-{chosen.since:%Y%m%d}-{chosen.until:%Y%m%d}.html"
        return Response(page, media_type="text/html; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    return api
