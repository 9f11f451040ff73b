"""The bureau's own city (issue 14): its districts and streets, the offices applications go to, and the
public legal service centres (四级：市、县区、乡镇街道、村社区) with their bookable slots.

One YAML file (``services/data/city.yml``, an example city; a bureau points ``LEGALBOT_CITY_FILE`` at its
own) is the only place these live: the legal-aid standards name its districts, a form's application goes
to an office of the form's kind, a shared location finds the nearest centre. A bad file is refused with
every problem in it listed, never half loaded, so that a bureau fixes it in one pass.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import yaml

from bot import yamlio
from bot.taxonomy import Service

if TYPE_CHECKING:
    from services.forms import Form

log = logging.getLogger(__name__)

DEFAULT_CITY = Path(__file__).parent / "data" / "city.yml"
#: In an office's ``districts``: every district without an office of that kind of its own.
EVERY_DISTRICT = "*"


class OfficeKind(StrEnum):
    """Where an application goes: the ``office`` of a form in forms.yml."""

    legal_aid_centre = "legal_aid_centre"
    mediation_committee = "mediation_committee"
    notary_office = "notary_office"
    justice_bureau = "justice_bureau"
    lawyer_referral = "lawyer_referral"
    enterprise_service = "enterprise_service"
    prison_administration = "prison_administration"
    justice_office = "justice_office"  # 司法所


class Level(StrEnum):
    """The four levels of public legal service centres: 市、县区、乡镇街道、村社区."""

    city = "city"
    county = "county"
    street = "street"
    community = "community"


#: A citizen's own district: the closest level first, the city's centre last.
NEAREST_FIRST = (Level.community, Level.street, Level.county, Level.city)


class CityError(ValueError):
    """A city file that cannot be used. ``problems`` lists every one as ``city.yml: <where>: <what>``."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = list(problems)
        super().__init__(f"{path}: cannot use the city file:\n" + "\n".join(self.problems))


@dataclass(frozen=True)
class Office:
    #: A stable slug that applications store.
    id: str
    kind: OfficeKind
    name: str
    #: District names, or ``("*",)``.
    districts: tuple[str, ...]
    phone: str
    address: str = ""
    hours: str = ""


@dataclass(frozen=True)
class Slots:
    """A centre's bookable appointments."""

    #: 1 = Monday … 7 = Sunday.
    weekdays: frozenset[int]
    #: "HH:MM", earliest first.
    times: tuple[str, ...]
    #: Citizens per slot.
    capacity: int
    closed: frozenset[dt.date] = frozenset()

    def on(self, day: dt.date) -> tuple[str, ...]:
        if day in self.closed or day.isoweekday() not in self.weekdays:
            return ()
        return self.times


@dataclass(frozen=True)
class Centre:
    id: str
    level: Level
    name: str
    #: None for the city's centre.
    district: str | None
    #: For street and community centres.
    street: str | None
    address: str
    phone: str
    hours: str
    lat: float
    lon: float
    services: tuple[Service, ...]
    slots: Slots | None = None

    @property
    def bookable(self) -> bool:
        return self.slots is not None


@dataclass(frozen=True)
class City:
    name: str
    #: The shipped placeholder city, not a bureau's real one.
    example: bool
    districts: tuple[str, ...]
    offices: tuple[Office, ...]
    centres: tuple[Centre, ...]
    street_names: Mapping[str, tuple[str, ...]] = field(default_factory=dict, compare=False)
    #: The file's name, for messages about it.
    source: str = "city.yml"

    def streets(self, district: str) -> tuple[str, ...]:
        return self.street_names.get(district, ())

    def office(self, office_id: str) -> Office | None:
        return next((o for o in self.offices if o.id == office_id), None)

    def offices_of(self, kind: str) -> tuple[Office, ...]:
        return tuple(o for o in self.offices if o.kind == kind)

    def office_for(self, kind: str, district: str | None) -> Office | None:
        """The office of this kind serving the district: the district's own, else the one for "*"."""
        offices = self.offices_of(kind)
        own = [o for o in offices if district is not None and district in o.districts]
        rest = [o for o in offices if EVERY_DISTRICT in o.districts]
        return next(iter(own or rest), None)

    def centre(self, centre_id: str) -> Centre | None:
        return next((c for c in self.centres if c.id == centre_id), None)

    def centres_in(self, district: str, service: str | None = None) -> tuple[Centre, ...]:
        """The district's centres, the closest level first (community, street, county), then the city's."""
        found = [c for c in self.centres if (c.district == district or c.level is Level.city)
                 and (service is None or service in c.services)]
        return tuple(sorted(found, key=lambda c: NEAREST_FIRST.index(c.level)))  # stable: file order within a level

    def nearest(self, lat: float, lon: float, service: str | None = None, n: int = 1) -> list[tuple[Centre, float]]:
        """The ``n`` centres closest to a point, with their distance in kilometres."""
        measured = [(c, haversine_km(lat, lon, c.lat, c.lon)) for c in self.centres
                    if service is None or service in c.services]
        return sorted(measured, key=lambda pair: pair[1])[:n]

    def slot_times(self, centre_id: str, day: dt.date) -> tuple[str, ...]:
        """The appointment times on a day; empty when the centre is closed, not bookable or unknown (an id
        stored before the file changed)."""
        centre = self.centre(centre_id)
        if centre is None or centre.slots is None:
            return ()
        return centre.slots.on(day)


class CityFile:
    """The city file, read again whenever it changes, for the long-running server (the bureau edits it
    without a restart). ``get`` raises what is wrong with it; ``current`` logs that and gives None."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._read: tuple[float, City | CityError] | None = None

    def get(self) -> City:
        mtime = self.path.stat().st_mtime
        if self._read is None or self._read[0] != mtime:
            try:
                self._read = (mtime, load_city(self.path))
            except CityError as exc:
                self._read = (mtime, exc)
        found = self._read[1]
        if isinstance(found, CityError):
            raise found
        return found

    def current(self) -> City | None:
        try:
            return self.get()
        except (OSError, CityError):
            log.exception("cannot use the city file %s", self.path)
            return None

    def office_name(self, office_id: str | None) -> str:
        """The office's name, or its id when the file does not (or no longer) list it."""
        city = self.current() if office_id else None
        office = city.office(office_id) if city and office_id else None
        return office.name if office else (office_id or "")


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(a)))


def load_city(path: Path = DEFAULT_CITY) -> City:
    """The city file, checked; CityError lists every problem found."""
    label = path.name
    try:
        raw = yamlio.read(path)
    except yaml.MarkedYAMLError as exc:
        where = f"line {exc.problem_mark.line + 1}" if exc.problem_mark else "YAML"
        raise CityError(path, [f"{label}: {where}: not valid YAML: {exc.problem or exc}"]) from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise CityError(path, [f"{label}: cannot read the city file: {exc}"]) from None
    reader = _Reader(label)
    city = reader.city(raw)
    if reader.problems or city is None:
        raise CityError(path, reader.problems or [f"{label}: nothing to load"])
    return city


def check_against(city: City, forms: Mapping[str, Form], standards_path: Path) -> list[str]:
    """What the forms and the legal-aid standards need from the city and do not find: every form's office
    kind has an office for every district; the standards' areas are districts of the city."""
    from services.legal_aid import ScreenError, load_standards

    problems = []
    needed: dict[str, list[str]] = {}
    for slug, form in sorted(forms.items()):
        needed.setdefault(form.office, []).append(slug)
    for kind, slugs in needed.items():
        asking = f"(form {', '.join(slugs)} sends applications to one)"
        if kind not in set(OfficeKind):
            problems.append(f"{city.source}: offices: {kind!r} is not an office kind the city knows {asking}; "
                            f"one of: {', '.join(OfficeKind)}")
            continue
        missing = [d for d in city.districts if city.office_for(kind, d) is None]
        if len(missing) == len(city.districts):
            problems.append(f"{city.source}: offices: no {kind} office {asking}")
        elif missing:
            problems.append(f"{city.source}: offices: no {kind} serves {', '.join(missing)} {asking}; "
                            f"add one for each, or one for \"*\"")
    try:
        load_standards(standards_path, city.districts)
    except ScreenError as exc:
        problems.append(f"{city.source}: districts: {exc}")
    return problems


# ---- reading the file ------------------------------------------------------------------------------

_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_TIME = re.compile(r"(?:[01]\d|2[0-3]):[0-5]\d")
_TOP_KEYS = ("city", "example", "districts", "offices", "centres")
_DISTRICT_KEYS = ("name", "streets")
_OFFICE_KEYS = ("id", "kind", "name", "districts", "phone", "address", "hours")
_CENTRE_KEYS = ("id", "level", "name", "district", "street", "address", "phone", "hours", "lat", "lon",
                "services", "slots")
_SLOT_KEYS = ("weekdays", "times", "capacity", "closed")
_NEEDS_DISTRICT = (Level.county, Level.street, Level.community)
_NEEDS_STREET = (Level.street, Level.community)


class _Reader:
    """Reads the parsed YAML, noting every problem instead of stopping at the first."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.problems: list[str] = []
        self.ids: set[str] = set()

    def problem(self, where: str, what: str) -> None:
        self.problems.append(f"{self.label}: {where}: {what}")

    def city(self, raw: Any) -> City | None:
        top = self.mapping(raw, "top level", _TOP_KEYS, ("city", "districts", "offices", "centres"))
        if top is None:
            return None
        name = self.text(top, "city", "city")
        example = top.get("example", False)
        if not isinstance(example, bool):
            self.problem("example", "must be true or false")
        streets = self.districts(top.get("districts"))
        offices = self.entries(top.get("offices"), "offices", lambda item, n: self.office(item, n, streets))
        centres = self.entries(top.get("centres"), "centres", lambda item, n: self.centre(item, n, streets))
        self.overlapping(offices)
        return City(name, example is True, tuple(streets), tuple(offices), tuple(centres),
                    MappingProxyType(streets), self.label)

    # -- shapes --

    def mapping(self, value: Any, where: str, keys: tuple[str, ...], required: tuple[str, ...]) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.problem(where, f"expected a mapping with {', '.join(required)}")
            return None
        for key in value:
            if key not in keys:
                self.problem(where, f"unknown key {key!r}; the keys are {', '.join(keys)}")
        for key in required:
            if key not in value:
                self.problem(where, f"missing {key!r}")
        return value

    def text(self, entry: dict[str, Any], key: str, where: str) -> str:
        """The text under ``key`` ("" when missing: the missing key was noted already)."""
        value = entry.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
        if value is None and key not in entry:
            return ""
        if isinstance(value, int | float) and not isinstance(value, bool):
            self.problem(where, f"{key!r} must be text in quotes, e.g. \"{value}\"")
        else:
            self.problem(where, f"{key!r} must be non-empty text")
        return ""

    def names(self, value: Any, where: str, key: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            self.problem(where, f"{key!r} must be a list of names")
            return ()
        names = tuple(v.strip() for v in value)
        for twice in sorted({n for n in names if names.count(n) > 1}):
            self.problem(where, f"{key!r} lists {twice!r} twice")
        return names

    def choice(self, entry: dict[str, Any], key: str, allowed: type[StrEnum], where: str) -> Any:
        value = entry.get(key)
        if key not in entry:
            return None
        if isinstance(value, str) and value in set(allowed):
            return allowed(value)
        self.problem(where, f"{key} must be one of {', '.join(allowed)} (got {value!r})")
        return None

    def entries(self, value: Any, key: str, read: Callable[[Any, int], Any]) -> list[Any]:
        if value is None:
            return []  # missing: noted with the top level
        if not isinstance(value, list):
            self.problem(key, "expected a list")
            return []
        return [e for e in (read(item, n) for n, item in enumerate(value, 1)) if e is not None]

    def identity(self, entry: dict[str, Any], what: str, n: int) -> tuple[str, str]:
        """The entry's id, checked, and how messages name the entry."""
        value, where = entry.get("id"), _named(entry, what, n)
        if not isinstance(value, str) or not _SLUG.fullmatch(value):
            if "id" in entry:
                self.problem(where, f"id must be a slug of a-z, 0-9 and - (got {value!r})")
            return "", where
        if value in self.ids:
            self.problem(where, f"the id {value!r} is used twice")
        self.ids.add(value)
        return value, where

    # -- sections --

    def districts(self, value: Any) -> dict[str, tuple[str, ...]]:
        if not isinstance(value, list) or not value:
            if value is not None:
                self.problem("districts", "expected a non-empty list of {name, streets}")
            return {}
        streets: dict[str, tuple[str, ...]] = {}
        for n, item in enumerate(value, 1):
            entry = self.mapping(item, f"district {n}", _DISTRICT_KEYS, ("name",))
            if entry is None:
                continue
            name = self.text(entry, "name", f"district {n}")
            if not name:
                continue
            where = f"district {name}"
            if name == EVERY_DISTRICT:
                self.problem(where, '"*" stands for every district and cannot be a name')
            elif name in streets:
                self.problem(where, "listed twice")
            else:
                streets[name] = self.names(entry.get("streets", []), where, "streets")
        return streets

    def office(self, item: Any, n: int, streets: dict[str, tuple[str, ...]]) -> Office | None:
        entry = self.mapping(item, _named(item, "office", n), _OFFICE_KEYS, ("id", "kind", "name", "districts", "phone"))
        if entry is None:
            return None
        office_id, where = self.identity(entry, "office", n)
        kind = self.choice(entry, "kind", OfficeKind, where)
        served: tuple[str, ...] = ()
        if "districts" in entry:
            served = self.names(entry["districts"], where, "districts")
            if not served:
                self.problem(where, 'districts must name at least one district, or "*"')
            for district in served:
                if district != EVERY_DISTRICT and district not in streets:
                    self.problem(where, self.unknown_district(district, streets))
        return Office(office_id, kind, self.text(entry, "name", where), served, self.text(entry, "phone", where),
                      self.optional_text(entry, "address", where), self.optional_text(entry, "hours", where))

    def centre(self, item: Any, n: int, streets: dict[str, tuple[str, ...]]) -> Centre | None:
        entry = self.mapping(item, _named(item, "centre", n), _CENTRE_KEYS,
                             ("id", "level", "name", "address", "phone", "lat", "lon", "services"))
        if entry is None:
            return None
        centre_id, where = self.identity(entry, "centre", n)
        level = self.choice(entry, "level", Level, where)
        district, street = entry.get("district"), entry.get("street")
        if level in _NEEDS_DISTRICT:
            if not isinstance(district, str) or district not in streets:
                self.problem(where, f"a {level} centre needs a district: "
                             + (self.unknown_district(district, streets) if district is not None else "none given"))
                district = None
        elif level is Level.city and district is not None:
            self.problem(where, "a city centre serves the whole city: leave out 'district'")
        if level in _NEEDS_STREET:
            if district is not None and (not isinstance(street, str) or street not in streets[district]):
                known = ", ".join(streets[district]) or "none listed"
                self.problem(where, f"a {level} centre needs a street of {district} (got {street!r}; its "
                                    f"streets: {known})")
                street = None
        elif level is not None and street is not None:
            self.problem(where, f"a {level} centre has no 'street'")
        services: tuple[Service, ...] = ()
        if "services" in entry:
            listed = entry["services"]
            if not isinstance(listed, list) or not listed:
                self.problem(where, "services must be a non-empty list of service slugs")
            else:
                for s in listed:
                    if s not in set(Service):
                        self.problem(where, f"unknown service {s!r}; one of: {', '.join(Service)}")
                services = tuple(Service(s) for s in listed if s in set(Service))
        slots = self.slots(entry["slots"], where) if entry.get("slots") is not None else None
        return Centre(centre_id, level, self.text(entry, "name", where),
                      district if isinstance(district, str) else None, street if isinstance(street, str) else None,
                      self.text(entry, "address", where), self.text(entry, "phone", where),
                      self.optional_text(entry, "hours", where),
                      self.coordinate(entry, "lat", 90, where), self.coordinate(entry, "lon", 180, where),
                      services, slots)

    def slots(self, value: Any, where: str) -> Slots | None:
        where = f"{where}: slots"
        entry = self.mapping(value, where, _SLOT_KEYS, ("weekdays", "times", "capacity"))
        if entry is None:
            return None
        weekdays = entry.get("weekdays")
        if not isinstance(weekdays, list) or not weekdays or not all(
                isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 7 for d in weekdays):
            if "weekdays" in entry:
                self.problem(where, f"weekdays must be a list of 1 (Monday) to 7 (Sunday) (got {weekdays!r})")
            weekdays = []
        times = entry.get("times")
        if not isinstance(times, list) or not times:
            if "times" in entry:
                self.problem(where, 'times must be a list of "HH:MM"')
            times = []
        good = []
        for time in times:
            if isinstance(time, int) and not isinstance(time, bool):
                # YAML 1.1 reads an unquoted 10:00 as the number 600 (base 60)
                self.problem(where, f'time {time // 60}:{time % 60:02d} must be in quotes, e.g. "10:00"')
            elif not isinstance(time, str) or not _TIME.fullmatch(time):
                self.problem(where, f'bad time {time!r}: expected "HH:MM" from "00:00" to "23:59"')
            elif time in good:
                self.problem(where, f"time {time!r} is listed twice")
            else:
                good.append(time)
        capacity = entry.get("capacity")
        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:
            if "capacity" in entry:
                self.problem(where, f"capacity must be a whole number of citizens per slot, 1 or more (got {capacity!r})")
            capacity = 1
        closed = set()
        listed = entry.get("closed") or []
        if not isinstance(listed, list):
            self.problem(where, "closed must be a list of dates (YYYY-MM-DD)")
            listed = []
        for day in listed:
            try:
                closed.add(day if isinstance(day, dt.date) and not isinstance(day, dt.datetime)
                           else dt.date.fromisoformat(str(day)))
            except ValueError:
                self.problem(where, f"closed date {day!r} is not a date (YYYY-MM-DD)")
        return Slots(frozenset(weekdays), tuple(sorted(good)), capacity, frozenset(closed))

    def coordinate(self, entry: dict[str, Any], key: str, limit: int, where: str) -> float:
        value = entry.get(key)
        if key not in entry:
            return 0.0
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
                or abs(value) > limit:
            self.problem(where, f"{key} must be a number from -{limit} to {limit} (got {value!r})")
            return 0.0
        return float(value)

    def optional_text(self, entry: dict[str, Any], key: str, where: str) -> str:
        return self.text(entry, key, where) if entry.get(key) is not None else ""

    def overlapping(self, offices: list[Office]) -> None:
        """Two offices of one kind for the same district (or both for "*") leave an application nowhere sure."""
        claimed: dict[tuple[str, str], str] = {}
        for office in offices:
            for district in office.districts:
                other = claimed.setdefault((office.kind, district), office.id)
                if other != office.id:
                    self.problem(f"office {office.id}", f"office {other} already is the {office.kind} for "
                                 + ("every district (\"*\")" if district == EVERY_DISTRICT else district))

    @staticmethod
    def unknown_district(district: Any, streets: Mapping[str, tuple[str, ...]]) -> str:
        return f"unknown district {district!r}; the districts are {', '.join(streets) or 'none (see districts)'}"


def _named(item: Any, what: str, n: int) -> str:
    """How messages name an entry: "centre c-city", or "centre 3" when it has no good id."""
    value = item.get("id") if isinstance(item, dict) else None
    return f"{what} {value}" if isinstance(value, str) and _SLUG.fullmatch(value) else f"{what} {n}"
