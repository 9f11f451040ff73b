"""Application forms (issue 14, part 1): the shipped forms, the check of every kind of answer with its
message, and one citizen's way through a form: correction, cancel, confirm, separate consent, resume."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from services.forms import Field, FormError, FormRun, check, id_card_ok, load_forms, reference_number

TODAY = dt.date(2026, 12, 4)
DISTRICTS = ("示例区", "示例新区", "示例县")
GOOD_ID = "11010519491231002X"  # the standard's own example number


@pytest.fixture(scope="module")
def forms():  # type: ignore[no-untyped-def]
    return load_forms()


def test_every_service_has_a_form_with_a_consent_naming_what_is_passed_on(forms) -> None:  # type: ignore[no-untyped-def]
    assert set(forms) == {"legal_aid", "mediation", "notarization", "judicial_appraisal", "find_lawyer",
                          "enterprise_complaint", "prison_visit", "community_justice"}
    for form in forms.values():
        assert "同意" in form.consent and "提供给" in form.consent and "仅用于" in form.consent
        assert any(f.kind == "phone" for f in form.fields)
        assert form.prefix.isalpha()
    assert len({f.prefix for f in forms.values()}) == len(forms)  # reference numbers never collide


@pytest.mark.parametrize("number, ok", [
    (GOOD_ID, True),
    ("110105194912310021", False),  # wrong check digit
    ("110105194902300029", False),  # 30 February
    ("11010519491231002", False),  # 17 characters
    ("1101051949123100XX", False),
])
def test_id_card_numbers_are_checked_by_their_check_digit(number: str, ok: bool) -> None:
    assert id_card_ok(number) is ok


def field(kind: str, **extra) -> Field:  # type: ignore[no-untyped-def]
    return Field("f", "测试项", kind, "?", **extra)


@pytest.mark.parametrize("kind, extra, text, value", [
    ("id_card", {}, " 11010519491231002x ", GOOD_ID),
    ("phone", {}, "+86 139 1234 5678", "13912345678"),
    ("phone", {}, "139-1234-5678", "13912345678"),
    ("phone", {}, "0571-87654321", "0571-87654321"),
    ("date", {"when": "future"}, "2026年12月10日", "2026-12-10"),
    ("date", {"when": "future"}, "明天", "2026-12-05"),
    ("date", {"when": "past"}, "2020/3/1", "2020-03-01"),
    ("district", {}, "示例县", "示例县"),
    ("district", {}, "新区", "示例新区"),
    ("choice", {"choices": ("工伤赔偿", "交通事故赔偿")}, "工伤", "工伤赔偿"),
    ("number", {"min": 1, "max": 20}, "3", 3),
    ("text", {"min": 2, "max": 10}, "张三", "张三"),
])
def test_good_answers_are_read_and_normalised(kind: str, extra: dict, text: str, value: object) -> None:  # type: ignore[type-arg]
    assert check(field(kind, **extra), text, DISTRICTS, TODAY) == (value, None)


@pytest.mark.parametrize("kind, extra, text, says", [
    ("id_card", {}, "110105194912310021", "身份证号码不对"),
    ("phone", {}, "12345", "电话号码不对"),
    ("phone", {}, "23912345678", "电话号码不对"),
    ("date", {"when": "future"}, "2026-12-01", "已经过去"),
    ("date", {"when": "past"}, "2027-01-01", "还没到"),
    ("date", {}, "2026-02-30", "日期看不懂"),
    ("date", {}, "下周吧", "日期看不懂"),
    ("district", {}, "示例", "示例区、示例新区、示例县"),  # ambiguous: lists the choices
    ("district", {}, "北京", "请从这些区县中选择"),
    ("choice", {"choices": ("工伤赔偿", "交通事故赔偿")}, "离婚", "工伤赔偿、交通事故赔偿"),
    ("number", {"min": 1, "max": 20}, "30", "1到20"),
    ("number", {"min": 1, "max": 20}, "三口", "整数"),
    ("text", {"min": 2, "max": 10}, "张", "2到10"),
    ("text", {}, "   ", "不能为空"),
])
def test_bad_answers_say_what_is_wrong(kind: str, extra: dict, text: str, says: str) -> None:  # type: ignore[type-arg]
    value, problem = check(field(kind, **extra), text, DISTRICTS, TODAY)
    assert value is None and problem is not None and says in problem


def fill(run: FormRun, answers: list[str]) -> list:  # type: ignore[type-arg]
    return [run.take(a) for a in answers]


LEGAL_AID = ["张三", GOOD_ID, "13912345678", "示例县", "工伤赔偿", "3", "6000", "没有以下情况", "上班时摔伤了，公司不管"]


def test_a_legal_aid_application_from_first_question_to_consent(forms) -> None:  # type: ignore[no-untyped-def]
    run = FormRun(forms["legal_aid"], districts=DISTRICTS, today=TODAY)
    first = run.start()
    assert first.stage == "asking" and "姓名" in first.text and first.buttons == []  # typed: no buttons
    steps = fill(run, LEGAL_AID[:3])
    assert "示例县" in steps[-1].buttons and "取消" in steps[-1].buttons  # the configured list as buttons
    wrong = run.take("示例")  # ambiguous: asked again, nothing stored
    assert wrong.stage == "asking" and "district" not in run.answers
    steps = fill(run, LEGAL_AID[3:])
    summary = steps[-1]
    assert summary.stage == "confirm" and "13912345678" in summary.text and "确认提交" in summary.buttons
    consent = run.take("确认提交")
    assert consent.stage == "consent" and consent.buttons == ["同意", "不同意"] and "法律援助中心" in consent.text
    done = run.take("同意")
    assert done.stage == "submitted" and run.answers["household_monthly_income"] == 6000
    assert run.take("取消").stage == "submitted"  # a submitted application is not cancelled by a stray word


def test_one_answer_is_changed_and_the_summary_comes_back(forms) -> None:  # type: ignore[no-untyped-def]
    run = FormRun(forms["legal_aid"], districts=DISTRICTS, today=TODAY)
    run.start()
    fill(run, LEGAL_AID)
    again = run.take("改一下电话")
    assert again.stage == "asking" and "联系电话" in again.text
    assert run.take("0571-87654321").stage == "confirm"
    assert run.answers["phone"] == "0571-87654321" and run.answers["name"] == "张三"
    choose = run.take("修改")  # "修改" alone: which one?
    assert "所在区县" in choose.buttons
    assert "区县" in run.take("所在区县").text
    assert run.take("示例区").stage == "confirm" and run.answers["district"] == "示例区"


def test_a_long_answer_mentioning_a_change_is_an_answer(forms) -> None:  # type: ignore[no-untyped-def]
    run = FormRun(forms["legal_aid"], districts=DISTRICTS, today=TODAY)
    run.start()
    fill(run, LEGAL_AID[:-1])
    summary = run.take("老板换了电话号码一直不接，工资也不发")
    assert summary.stage == "confirm" and run.answers["summary"].startswith("老板换了电话")
    assert run.answers["phone"] == "13912345678"


def test_cancel_at_any_step_and_refusing_consent_submit_nothing(forms) -> None:  # type: ignore[no-untyped-def]
    run = FormRun(forms["mediation"], districts=DISTRICTS, today=TODAY)
    run.start()
    run.take("李四")
    cancelled = run.take("取消")
    assert cancelled.stage == "cancelled" and "不会提交" in cancelled.text
    refused = FormRun(forms["mediation"], districts=DISTRICTS, today=TODAY)
    refused.start()
    fill(refused, ["李四", "13912345678", "示例区", "邻里纠纷", "隔壁王五", "楼上漏水泡坏了我家天花板"])
    refused.take("确认提交")
    no = refused.take("不同意")
    assert no.stage == "cancelled" and "窗口" in no.text


def test_the_state_waits_as_json_and_resumes(forms) -> None:  # type: ignore[no-untyped-def]
    run = FormRun(forms["notarization"], districts=DISTRICTS, today=TODAY)
    run.start()
    fill(run, ["王五", GOOD_ID, "13912345678"])
    stored = json.loads(json.dumps(run.state, ensure_ascii=False))  # days later, from the database
    resumed = FormRun(forms["notarization"], stored, districts=DISTRICTS, today=TODAY + dt.timedelta(days=3))
    assert resumed.take("示例区").stage == "asking" and resumed.state["asking"] == "matter"
    assert resumed.answers["phone"] == "13912345678"  # what was given days ago is still there
    resumed.take("继承")
    past = resumed.take("2026-12-05")  # a day that has passed by now
    assert "已经过去" in past.text
    assert resumed.take("2026-12-20").stage == "confirm"


def test_a_paused_form_asks_again_what_it_last_asked(forms) -> None:  # type: ignore[no-untyped-def]
    run = FormRun(forms["legal_aid"], districts=DISTRICTS, today=TODAY)
    run.start()
    fill(run, LEGAL_AID[:2])
    assert "电话" in run.again().text and run.state["asking"] == "phone"
    fill(run, LEGAL_AID[2:])
    assert run.again().stage == "confirm"
    run.take("确认提交")
    assert run.again().stage == "consent"


def test_an_optional_field_can_be_skipped(forms) -> None:  # type: ignore[no-untyped-def]
    run = FormRun(forms["community_justice"], districts=DISTRICTS, today=TODAY)
    run.start()
    steps = fill(run, ["赵六", "13912345678", "示例县", "安置帮教"])
    assert "跳过" in steps[-1].buttons
    assert run.take("跳过").stage == "confirm" and run.answers["summary"] == ""


@pytest.mark.parametrize("text, message", [
    ("forms: {}", "mapping 'forms'"),
    ("forms: {x: {title: t, office: o, prefix: X, consent: c, sla: {days: -1}, fields: [{name: a, label: A}]}}",
     "sla needs days"),
    ("forms: {x: {title: t, office: o, prefix: X, consent: c, fields: [{name: a, label: A, kind: choice,"
     " choices: [是, 一个超过了十九个汉字因而放不进电报按钮里的很长很长的选项]}]}}", "too long for a button"),
    ("forms: {x: {title: t, office: o, prefix: X, consent: c}}", "list of fields"),
    ("forms: {x: {title: t, office: o, consent: c, fields: [{name: a, label: A}]}}", "reference prefix"),
    ("forms: {x: {title: t, office: o, prefix: X, consent: c, fields: [{name: a, label: A, kind: blob}]}}", "unknown kind"),
    ("forms: {x: {title: t, office: o, prefix: X, consent: c, fields: [{name: a, label: A, kind: choice, choices: [one]}]}}",
     "two choices"),
    ("forms: {x: {title: t, office: o, prefix: X, consent: c, fields: [{name: a, label: A}, {name: a, label: B}]}}",
     "same name"),
    ("forms: [", "cannot read"),
])
def test_a_bad_forms_file_names_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "forms.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FormError, match=message):
        load_forms(path)


def test_reference_numbers() -> None:
    assert reference_number("FY", TODAY, 7) == "FY-20261204-0007"
