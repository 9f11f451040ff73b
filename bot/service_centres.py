"""Public legal service centres, for a citizen who shares a location: the nearest one, with distance."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True)
class ServiceCentre:
    name: str
    address: str
    phone: str
    lat: float
    lon: float


def load_service_centres(path: Path) -> list[ServiceCentre]:
    """The centres listed in ``LEGALBOT_SERVICE_CENTRES_FILE``; ValueError names a bad entry."""
    entries = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected a list of service centres")
    centres = []
    for n, entry in enumerate(entries, start=1):
        try:
            centre = ServiceCentre(name=str(entry["name"]), address=str(entry["address"]),
                                   phone=str(entry["phone"]), lat=float(entry["lat"]), lon=float(entry["lon"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: centre {n} needs name, address, phone, lat and lon ({exc})") from None
        if not (abs(centre.lat) <= 90 and abs(centre.lon) <= 180):
            raise ValueError(f"{path}: centre {n} has coordinates out of range")
        centres.append(centre)
    return centres


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(a)))


def nearest_centre(centres: list[ServiceCentre], lat: float, lon: float) -> tuple[ServiceCentre, float] | None:
    measured = [(c, haversine_km(lat, lon, c.lat, c.lon)) for c in centres]
    return min(measured, key=lambda pair: pair[1]) if measured else None
