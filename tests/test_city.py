"""The city file (issue 14): one place for the bureau's districts, offices and service centres. The shipped
example loads and covers every form; a bad file is refused with every problem named; offices, centres and
slots are found the way a citizen would expect; `legalbot city validate` says so."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from bot import actions
from bot.cli import app
from bot.settings import get_settings
from services.city import (
    DEFAULT_CITY,
    CityError,
    Level,
    OfficeKind,
    check_against,
    haversine_km,
    load_city,
)
from services.forms import load_forms
from services.legal_aid import DEFAULT_STANDARDS

MONDAY, SATURDAY, NEW_YEAR = dt.date(2027, 1, 4), dt.date(2027, 1, 2), dt.date(2027, 1, 1)  # 2027-01-01: a Friday


def centre(centre_id: str, level: str, lat: float, lon: float, **more: Any) -> dict[str, Any]:
    return {"id": centre_id, "level": level, "name": f"{centre_id} 公共法律服务", "address": "测试路1号",
            "phone": "0000-12348", "hours": "9:00-17:00", "lat": lat, "lon": lon,
            "services": ["consultation", "legal_aid"], **more}


def small() -> dict[str, Any]:
    """A city of two districts with one office of one kind for "*" and one for 西县."""
    return {
        "city": "测试市",
        "districts": [{"name": "东区", "streets": ["东街道", "河街道"]}, {"name": "西县", "streets": ["西镇"]}],
        "offices": [
            {"id": "aid-city", "kind": "legal_aid_centre", "name": "市法律援助中心", "districts": ["*"], "phone": "12348"},
            {"id": "aid-west", "kind": "legal_aid_centre", "name": "西县法律援助中心", "districts": ["西县"],
             "phone": "0000-1", "address": "西县1号", "hours": "周一至周五"},
        ],
        "centres": [
            centre("c-city", "city", 30.00, 120.00, slots={"weekdays": [1, 2, 3, 4, 5], "times": ["14:00", "09:00"],
                                                            "capacity": 2, "closed": [NEW_YEAR]}),
            centre("c-east", "county", 30.10, 120.10, district="东区"),
            centre("s-east", "street", 30.12, 120.12, district="东区", street="东街道"),
            centre("r-east", "community", 30.13, 120.13, district="东区", street="河街道", services=["mediation"]),
            centre("c-west", "county", 29.50, 119.50, district="西县"),
        ],
    }


def write(tmp_path: Path, data: Any, name: str = "city.yml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def problems(tmp_path: Path, change: Callable[[dict[str, Any]], Any]) -> list[str]:
    data = small()
    change(data)
    with pytest.raises(CityError) as refused:
        load_city(write(tmp_path, data))
    assert all(p.startswith("city.yml: ") for p in refused.value.problems), refused.value.problems
    assert str(tmp_path / "city.yml") in str(refused.value)
    return refused.value.problems


# ---- the shipped example ----------------------------------------------------------------------------


def test_the_shipped_example_city_loads_and_says_it_is_an_example() -> None:
    city = load_city()
    assert city.example and DEFAULT_CITY.read_text(encoding="utf-8").startswith("# EXAMPLE CITY")
    assert city.districts == ("示例区", "示例新区", "示例县") and all(city.streets(d) for d in city.districts)
    assert {c.level for c in city.centres} == set(Level)  # 市、县区、乡镇街道、村社区
    assert sum(c.bookable for c in city.centres) >= 2
    assert all(city.offices_of(kind) for kind in OfficeKind)
    for district in city.districts:  # a mediation committee and a justice office of its own in every district
        for kind in (OfficeKind.mediation_committee, OfficeKind.justice_office):
            office = city.office_for(kind, district)
            assert office is not None and office.districts == (district,)


def test_the_shipped_city_has_everything_the_forms_and_the_standards_need() -> None:
    assert check_against(load_city(), load_forms(), DEFAULT_STANDARDS) == []


# ---- a bad file: every problem, named ---------------------------------------------------------------


def set_in(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("centres"), "city.yml: top level: missing 'centres'"),
    (set_in(("city",), 123), "city.yml: city: 'city' must be text in quotes"),
    (set_in(("offices",), "none"), "city.yml: offices: expected a list"),
    (set_in(("example",), "yes"), "city.yml: example: must be true or false"),
    (set_in(("districts",), []), "city.yml: districts: expected a non-empty list"),
    (lambda d: d["districts"].append({"name": "东区"}), "city.yml: district 东区: listed twice"),
    (set_in(("offices", 1, "phone"), 12348), "city.yml: office aid-west: 'phone' must be text in quotes, e.g. \"12348\""),
    (set_in(("offices", 1, "kind"), "court"), "city.yml: office aid-west: kind must be one of legal_aid_centre, "),
    (set_in(("offices", 1, "districts"), ["北区"]), "city.yml: office aid-west: unknown district '北区'; the "
                                                   "districts are 东区, 西县"),
    (set_in(("offices", 1, "id"), "Aid West"), "city.yml: office 2: id must be a slug"),
    (set_in(("offices", 1, "districts"), ["*"]), "city.yml: office aid-west: office aid-city already is the "
                                                "legal_aid_centre for every district"),
    (set_in(("centres", 1, "id"), "c-city"), "city.yml: centre c-city: the id 'c-city' is used twice"),
    (set_in(("centres", 0, "level"), "town"), "city.yml: centre c-city: level must be one of city, county, street, "
                                              "community (got 'town')"),
    (lambda d: d["centres"][1].pop("district"), "city.yml: centre c-east: a county centre needs a district"),
    (set_in(("centres", 1, "district"), "北区"), "city.yml: centre c-east: a county centre needs a district: "
                                                "unknown district '北区'"),
    (set_in(("centres", 3, "street"), "西镇"), "city.yml: centre r-east: a community centre needs a street of 东区"),
    (set_in(("centres", 0, "district"), "东区"), "city.yml: centre c-city: a city centre serves the whole city"),
    (set_in(("centres", 4, "services"), ["divorce"]), "city.yml: centre c-west: unknown service 'divorce'"),
    (set_in(("centres", 4, "lat"), 91), "city.yml: centre c-west: lat must be a number from -90 to 90 (got 91)"),
    (set_in(("centres", 4, "lon"), "east"), "city.yml: centre c-west: lon must be a number from -180 to 180"),
    (set_in(("centres", 4, "adress"), "x"), "city.yml: centre c-west: unknown key 'adress'"),
    (set_in(("centres", 0, "slots", "times"), ["25:00"]), "city.yml: centre c-city: slots: bad time '25:00'"),
    (set_in(("centres", 0, "slots", "times"), [600]), 'time 10:00 must be in quotes, e.g. "10:00"'),
    (set_in(("centres", 0, "slots", "capacity"), 0), "city.yml: centre c-city: slots: capacity must be a whole "
                                                     "number of citizens per slot, 1 or more (got 0)"),
    (set_in(("centres", 0, "slots", "weekdays"), [0, 1]), "slots: weekdays must be a list of 1 (Monday) to 7"),
    (set_in(("centres", 0, "slots", "closed"), ["soon"]), "slots: closed date 'soon' is not a date"),
])
def test_a_bad_city_file_names_the_file_the_place_and_the_problem(tmp_path: Path, change: Any, message: str) -> None:
    found = problems(tmp_path, change)
    assert any(message in p for p in found), found


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    def three(data: dict[str, Any]) -> None:
        data["centres"][0]["level"] = "town"
        data["centres"][4]["lat"] = 200
        data["offices"][0]["districts"] = ["北区"]

    assert len(problems(tmp_path, three)) == 3


@pytest.mark.parametrize("text, message", [
    ("city: [oops", "city.yml: line 2: not valid YAML"),  # where the parser noticed: the end
    ("- a list\n- of things\n", "city.yml: top level: expected a mapping"),
])
def test_a_file_that_is_not_a_city_is_one_clear_problem(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(CityError) as refused:
        load_city(write(tmp_path, text))
    assert refused.value.problems[0].startswith(message)


def test_a_missing_file_is_a_city_error(tmp_path: Path) -> None:
    with pytest.raises(CityError, match="cannot read the city file"):
        load_city(tmp_path / "nowhere.yml")


# ---- finding offices, centres and slots -------------------------------------------------------------


def test_a_district_s_own_office_comes_before_the_one_for_every_district(tmp_path: Path) -> None:
    city = load_city(write(tmp_path, small()))
    assert city.office_for("legal_aid_centre", "西县") == city.office("aid-west")
    assert city.office_for(OfficeKind.legal_aid_centre, "东区") == city.office("aid-city")
    assert city.office_for("legal_aid_centre", None) == city.office("aid-city")  # district not known yet
    assert city.office_for("notary_office", "东区") is None
    assert [o.id for o in city.offices_of("legal_aid_centre")] == ["aid-city", "aid-west"]
    west = city.office("aid-west")
    assert west is not None and (west.phone, west.address, west.hours) == ("0000-1", "西县1号", "周一至周五")
    assert city.office("nope") is None


def test_a_district_s_centres_the_closest_level_first_then_the_city_s(tmp_path: Path) -> None:
    city = load_city(write(tmp_path, small()))
    assert [c.id for c in city.centres_in("东区")] == ["r-east", "s-east", "c-east", "c-city"]
    assert [c.id for c in city.centres_in("东区", service="legal_aid")] == ["s-east", "c-east", "c-city"]
    assert [c.id for c in city.centres_in("西县")] == ["c-west", "c-city"]
    assert city.streets("东区") == ("东街道", "河街道") and city.streets("北区") == ()


def test_the_nearest_centres_with_their_distance(tmp_path: Path) -> None:
    city = load_city(write(tmp_path, small()))
    (first, km), = city.nearest(30.0, 120.0)
    assert first.id == "c-city" and km == 0
    assert [c.id for c, _ in city.nearest(30.13, 120.13, n=3)] == ["r-east", "s-east", "c-east"]
    assert [c.id for c, _ in city.nearest(30.13, 120.13, service="legal_aid", n=2)] == ["s-east", "c-east"]
    assert city.nearest(30.0, 120.0, service="prison_visit") == []


def test_slots_on_a_weekday_a_weekend_and_a_closed_day(tmp_path: Path) -> None:
    city = load_city(write(tmp_path, small()))
    assert city.slot_times("c-city", MONDAY) == ("09:00", "14:00")  # earliest first
    assert city.slot_times("c-city", SATURDAY) == ()
    assert city.slot_times("c-city", NEW_YEAR) == ()  # a Friday, but closed
    assert city.slot_times("c-east", MONDAY) == ()  # takes no bookings
    assert city.slot_times("gone", MONDAY) == ()  # an id stored before the file changed
    booking, walk_in = city.centre("c-city"), city.centre("c-east")
    assert booking is not None and booking.bookable and booking.slots is not None and booking.slots.capacity == 2
    assert walk_in is not None and not walk_in.bookable


def test_the_distance_is_a_great_circle() -> None:
    assert haversine_km(39.9042, 116.4074, 31.2304, 121.4737) == pytest.approx(1067, abs=5)  # Beijing–Shanghai
    assert haversine_km(30.0, 120.0, 30.0, 120.0) == 0


# ---- against the forms and the standards ------------------------------------------------------------


def test_check_against_finds_a_form_with_no_office_and_a_standard_for_no_district(tmp_path: Path) -> None:
    data = small()
    data["offices"].append({"id": "tj-east", "kind": "mediation_committee", "name": "东区人民调解委员会",
                            "districts": ["东区"], "phone": "0000-2"})
    city = load_city(write(tmp_path, data))
    standards = write(tmp_path, "standards:\n  - {area: 北区, effective_from: 2025-01-01, monthly_income_per_person: 1}\n",
                      "standards.yml")
    found = check_against(city, load_forms(), standards)
    assert "city.yml: offices: no notary_office office (form notarization sends applications to one)" in found
    assert any(p.startswith("city.yml: offices: no mediation_committee serves 西县 (form mediation") for p in found)
    assert not any("legal_aid_centre" in p for p in found)
    assert any(p.startswith("city.yml: districts: ") and "area '北区' is not a district" in p for p in found)


# ---- the bot and the command line -------------------------------------------------------------------


def test_a_broken_city_file_answers_no_centre(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    broken = write(tmp_path, "city: [oops")
    assert actions.locate(broken, 30.0, 120.0) == {"centre": None}
    assert "12348" in actions.centres_reply(broken, "zh")
    assert "cannot read the city file" in caplog.text
    found = actions.locate(write(tmp_path, small(), "good.yml"), 30.0, 120.0)
    assert found == {"centre": {"name": "c-city 公共法律服务", "address": "测试路1号", "phone": "0000-12348", "km": 0.0}}


def test_asking_for_the_centres_lists_the_city_s_and_the_districts(tmp_path: Path) -> None:
    reply = actions.centres_reply(write(tmp_path, small()), "zh")
    assert all(f"{c} 公共法律服务" in reply for c in ("c-city", "c-east", "c-west"))
    assert "s-east" not in reply and "r-east" not in reply
    assert reply.index("c-city") < reply.index("c-east")


@pytest.fixture
def cli() -> Iterator[CliRunner]:
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_city_validate_summarises_the_shipped_city(cli: CliRunner) -> None:
    result = cli.invoke(app, ["city", "validate", "--file", str(DEFAULT_CITY)])
    assert result.exit_code == 0, result.output
    assert "示例市" in result.output and "EXAMPLE" in result.output
    assert "districts: 3" in result.output and "legal_aid_centre 2" in result.output
    assert "centres: city 1, county 3" in result.output and "bookable: " in result.output
    assert result.output.rstrip().endswith("ok")


def test_city_validate_lists_every_problem_and_fails(cli: CliRunner, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    data = small()
    data["centres"][0]["level"] = "town"
    data["centres"][0]["slots"]["times"] = ["25:00"]
    result = cli.invoke(app, ["city", "validate", "--file", str(write(tmp_path, data))])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "city.yml: centre c-city: level must be one of" in result.output
    assert "city.yml: centre c-city: slots: bad time '25:00'" in result.output
    # a file that loads but lacks what the forms need, found through LEGALBOT_CITY_FILE
    monkeypatch.setenv("LEGALBOT_CITY_FILE", str(write(tmp_path, small(), "lacking.yml")))
    get_settings.cache_clear()
    lacking = cli.invoke(app, ["city", "validate"])
    assert lacking.exit_code == 1
    assert "lacking.yml: offices: no notary_office office" in lacking.output
    assert "lacking.yml: districts: " in lacking.output  # the example standards name 示例县
