"""Legal-aid pre-screening under the Legal Aid Law (法律援助法): likely, unlikely or needs review.

Three questions, in the Law's order:

1. Is the matter one legal aid covers? Criminal defence (art. 24; art. 25 when the authorities must
   appoint a defender), victims in criminal cases (art. 29), retrials (art. 33), and the civil and
   administrative matters of art. 31. A topic (``labor``, ``traffic`` …) covers some matters and not
   others, so a topic alone is never "likely". Provinces may add matters (art. 31 (9)): anything not
   listed is "review", never "unlikely" on scope alone.
2. Does the means test apply? Not for the people of art. 32 (heroes' relatives, good Samaritans, those
   acquitted on retrial claiming compensation, victims of abuse, abandonment or domestic violence) nor
   where art. 25 obliges the authorities to appoint a defender. The people of art. 42 (social assistance
   recipients, those without income who are minors, elderly or disabled, migrant workers claiming pay or
   work-injury compensation) still need hardship, but it is not checked: their proof suffices.
3. Is the household in economic hardship by the standard the province sets and adjusts (art. 34)? The
   standards are data (``services/data/legal_aid_standards.yml``), per area, with the date each takes
   effect: never figures in code. The areas are the districts of the city file (services/city.py).

The result is a pre-screen for the citizen and the legal-aid centre, not the decision: the centre
decides within 7 days of the application (art. 43), and the reasons say so.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot import yamlio

LAW = "法律援助法"
DEFAULT_STANDARDS = Path(__file__).resolve().parent / "data" / "legal_aid_standards.yml"


class ScreenError(ValueError):
    """Input the screen cannot read (unknown matter or circumstance, a negative income …)."""


@dataclass(frozen=True)
class Matter:
    label: str
    #: The articles that bring it within legal aid.
    articles: tuple[int, ...]
    #: criminal_defence | means (covered, economic hardship required) | partly (a topic: some matters
    #: in it are covered, others are not) | unlisted (a topic the Law's list does not name)
    kind: str = "means"
    #: For ``partly``: which covered matters the topic holds, for the reason shown.
    covers: str = ""
    #: What the citizen brings about the matter itself.
    materials: tuple[str, ...] = ()


MATTERS: dict[str, Matter] = {
    # art. 24, 25, 29, 33: criminal cases
    "criminal_defence": Matter("刑事案件犯罪嫌疑人、被告人的辩护", (24,), "criminal_defence",
                               materials=("案件的立案、拘留或起诉等文书（有的提供）",)),
    "criminal_victim": Matter("刑事案件被害人、自诉人、附带民事诉讼原告人的代理", (29,),
                              materials=("报案回执、立案或不立案通知书等案件材料",)),
    "retrial": Matter("申诉或再审案件的辩护、代理（已决定再审或已抗诉）", (33,),
                      materials=("生效裁判文书和再审决定书或抗诉书",)),
    # art. 31 (1)-(8)
    "state_compensation": Matter("请求国家赔偿", (31,), materials=("致害行为的相关文书、证据",)),
    "social_insurance_or_assistance": Matter("请求给予社会保险待遇或者社会救助", (31,),
                                             materials=("参保、申领或被拒的相关材料",)),
    "survivor_pension": Matter("请求发给抚恤金", (31,), materials=("亲属关系证明和相关材料",)),
    "support_payments": Matter("请求给付赡养费、抚养费、扶养费", (31,),
                               materials=("亲属关系证明（户口簿、出生证明、结婚证等）",)),
    "labour_pay": Matter("请求确认劳动关系或者支付劳动报酬", (31, 22),
                         materials=("劳动合同、工资条、考勤、聊天记录等用工证据",)),
    "capacity_declaration": Matter("请求认定公民无民事行为能力或者限制民事行为能力", (31,),
                                   materials=("医疗诊断或鉴定材料",)),
    "work_injury": Matter("请求工伤事故人身损害赔偿", (31,), materials=("工伤认定、伤情或劳动能力鉴定材料",)),
    "traffic_injury": Matter("请求交通事故人身损害赔偿", (31,), materials=("交通事故认定书、病历和费用票据",)),
    "food_drug_injury": Matter("请求食品药品安全事故人身损害赔偿", (31,), materials=("购买凭证、病历和费用票据",)),
    "medical_injury": Matter("请求医疗事故人身损害赔偿", (31,), materials=("病历资料和费用票据",)),
    "environmental_damage": Matter("请求环境污染、生态破坏损害赔偿", (31,), materials=("损害情况的证据",)),
    # the topics of the taxonomy (bot/taxonomy.py): some of their matters are covered
    "marriage_family": Matter("婚姻家庭纠纷", (31,), "partly", "赡养费、抚养费、扶养费"),
    "labor": Matter("劳动争议", (31, 22), "partly", "确认劳动关系、支付劳动报酬、工伤赔偿，以及劳动争议调解与仲裁代理"),
    "construction": Matter("建设工程纠纷", (31,), "partly", "农民工追讨劳动报酬、工伤赔偿"),
    "traffic": Matter("交通事故", (31,), "partly", "交通事故人身损害赔偿"),
    "medical": Matter("医疗纠纷", (31,), "partly", "医疗事故人身损害赔偿"),
    "tort": Matter("侵权纠纷", (31,), "partly", "工伤、交通、食品药品、医疗事故的人身损害赔偿和环境污染损害赔偿"),
    "administrative": Matter("行政争议", (31,), "partly", "国家赔偿、社会保险待遇、社会救助、抚恤金"),
    "criminal": Matter("刑事案件", (24, 29), "partly", "犯罪嫌疑人、被告人的辩护和被害人的代理"),
    # topics none of whose matters the Law lists: the province may still add some (art. 31 (9))
    **{topic: Matter(label, (31,), "unlisted") for topic, label in (
        ("inheritance", "继承纠纷"), ("debt", "借贷债务纠纷"), ("contract", "合同纠纷"), ("property", "房产物业纠纷"),
        ("consumer", "消费纠纷"), ("land_demolition", "土地征收拆迁纠纷"), ("company", "公司纠纷"),
        ("ip", "知识产权纠纷"), ("other", "其他事项"))},
}

#: Circumstances: which article they come from and what they change.
EXEMPT = {  # art. 32: no means test
    "hero_martyr_relative": "英雄烈士近亲属为维护英雄烈士的人格权益",
    "good_samaritan": "因见义勇为行为主张相关民事权益",
    "retrial_acquittal": "再审改判无罪请求国家赔偿",
    "abuse": "遭受虐待的受害人主张相关权益",
    "abandonment": "遭受遗弃的受害人主张相关权益",
    "domestic_violence": "遭受家庭暴力的受害人主张相关权益",
}
MANDATORY_DEFENCE = {  # art. 25: the court, procuratorate or police must have a defender appointed
    "minor": "未成年人",
    "visual_hearing_speech_disability": "视力、听力、言语残疾人",
    "cannot_fully_control_conduct": "不能完全辨认自己行为的成年人",
    "possible_life_or_death_sentence": "可能被判处无期徒刑、死刑的人",
    "death_penalty_review": "申请法律援助的死刑复核案件被告人",
    "trial_in_absentia": "缺席审判案件的被告人",
}
NO_HARDSHIP_CHECK = {  # art. 42: hardship is not verified for those who prove they are…
    "social_assistance": "社会救助、司法救助或者优抚对象",
    "no_income_minor_elderly_disabled": "无固定生活来源的未成年人、老年人、残疾人等特定群体",
    "migrant_worker": "申请支付劳动报酬或者请求工伤事故人身损害赔偿的进城务工人员",
}
#: The matters a migrant worker's art. 42 (3) exemption applies to.
MIGRANT_MATTERS = frozenset({"labour_pay", "work_injury", "labor", "construction"})
CIRCUMSTANCES = {**EXEMPT, **MANDATORY_DEFENCE, **NO_HARDSHIP_CHECK}

ALTERNATIVES = ("拨打12348或到公共法律服务中心免费咨询（法律咨询不查经济状况）",
                "申请人民调解：免费，适合家庭、邻里、小额纠纷", "自行委托律师；劳动争议可免费申请仲裁")


@dataclass(frozen=True)
class Standard:
    area: str
    effective_from: dt.date
    monthly_income_per_person: float
    source: str


@dataclass
class Screening:
    result: str  # likely | unlikely | review
    reasons: list[str] = field(default_factory=list)
    materials: list[str] = field(default_factory=list)
    legal_basis: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"result": self.result, "reasons": self.reasons, "materials": self.materials,
                "legal_basis": self.legal_basis}


@dataclass(frozen=True)
class Standards:
    """The province's standards over time, and the city's districts (from the city file; those without a
    standard of their own use the general "*" one)."""

    items: tuple[Standard, ...]
    districts: tuple[str, ...]

    def on(self, district: str | None, day: dt.date) -> Standard | None:
        """The district's own standard in effect on ``day``, else the general one; None if neither."""
        for area in ([district] if district else []) + ["*"]:
            current = [s for s in self.items if s.area == area and s.effective_from <= day]
            if current:
                return max(current, key=lambda s: s.effective_from)
        return None


def load_standards(path: Path, districts: Iterable[str]) -> Standards:
    """The hardship standards for the city's ``districts``, checked: a bad file is an error naming the
    entry, never a guess. An area other than "*" must be one of the districts."""
    names = tuple(districts)
    try:
        raw = yamlio.read(path)
    except (OSError, yaml.YAMLError) as exc:
        raise ScreenError(f"{path}: cannot read the legal-aid standards: {exc}") from None
    items = raw.get("standards") if isinstance(raw, dict) else None
    if not isinstance(items, list) or not items:
        raise ScreenError(f"{path}: expected a non-empty list under 'standards'")
    if "districts" in raw:
        raise ScreenError(f"{path}: 'districts' are no longer listed here: they come from the city file "
                          "(LEGALBOT_CITY_FILE); remove them from the standards")
    standards = []
    for n, item in enumerate(items, 1):
        where = f"{path}: standard {n}"
        if not isinstance(item, dict):
            raise ScreenError(f"{where}: expected a mapping")
        area, date, amount = item.get("area"), item.get("effective_from"), item.get("monthly_income_per_person")
        if not isinstance(area, str) or not area.strip():
            raise ScreenError(f"{where}: 'area' must be a district name or \"*\"")
        if not isinstance(date, dt.date):
            raise ScreenError(f"{where}: 'effective_from' must be a date (YYYY-MM-DD)")
        if isinstance(amount, bool) or not isinstance(amount, int | float) or amount <= 0:
            raise ScreenError(f"{where}: 'monthly_income_per_person' must be a positive number of yuan")
        if area.strip() != "*" and area.strip() not in names:
            raise ScreenError(f"{where}: area {area.strip()!r} is not a district of the city file; the districts "
                              f"are {', '.join(names) or 'none'} (or \"*\" for all of them)")
        standards.append(Standard(area.strip(), date, float(amount), str(item.get("source", ""))))
    keys = [(s.area, s.effective_from) for s in standards]
    if len(set(keys)) != len(keys):
        raise ScreenError(f"{path}: two standards for the same area take effect on the same day")
    return Standards(tuple(standards), names)


def screen(request: dict[str, Any], standards: Standards, today: dt.date | None = None) -> Screening:
    """Screen one application (the ``legalbot legal-aid screen`` input object)."""
    matter_slug, district, size, income, circumstances = _read(request, standards)
    matter = MATTERS[matter_slug]
    basis = set(matter.articles)
    reasons: list[str] = []
    materials = ["身份证件（代为申请的，另带代理权证明）", "法律援助申请表（可在中心或网上填写）"]
    materials += list(matter.materials)

    # A topic holds covered and uncovered matters: at best the centre must look at it.
    likely = "review" if matter.kind in ("partly", "unlisted") else "likely"
    if matter.kind == "partly":
        reasons.append(f"{matter.label}中，{matter.covers}属于法律援助范围；其他事项要看本省的规定"
                       "（第三十一条第九项），请中心审查")
    elif matter.kind == "unlisted":
        reasons.append(f"{matter.label}不在法律援助法列举的事项中，但本省的规定可以增加事项（第三十一条第九项），"
                       "请中心审查")
    exempt = sorted(c for c in circumstances if c in EXEMPT)
    mandatory = sorted(c for c in circumstances if c in MANDATORY_DEFENCE)
    unchecked = sorted(c for c in circumstances if c in NO_HARDSHIP_CHECK and
                       (c != "migrant_worker" or matter_slug in MIGRANT_MATTERS))

    if mandatory and matter_slug in ("criminal_defence", "criminal"):
        basis.add(25)
        who = "、".join(MANDATORY_DEFENCE[c] for c in mandatory)
        reasons.append(f"犯罪嫌疑人、被告人属于{who}，没有委托辩护人的，法院、检察院或公安机关应当通知法律援助机构"
                       "指派律师担任辩护人，不看经济状况（第二十五条）")
        return _finish("likely", reasons, materials, basis)

    if exempt:
        basis.add(32)
        reasons.append("属于" + "；".join(EXEMPT[c] for c in exempt) + "，申请法律援助不受经济困难条件的限制"
                       "（第三十二条）；所申请的事项须与这一情形相关")
        materials.append("证明该情形的材料（如报警记录、告诫书、人身安全保护令、伤情材料、见义勇为认定等）")
        return _finish(likely, reasons, materials, basis)

    if unchecked:
        basis.add(42)
        reasons.append("能提供证明属于" + "；".join(NO_HARDSHIP_CHECK[c] for c in unchecked) +
                       "的，免予核查经济困难状况（第四十二条）")
        materials.append("证明身份的材料（如低保证、特困证、优抚证、残疾证，或务工的证据）")
        return _finish(likely, reasons, materials, basis)

    if matter.kind == "criminal_defence":
        reasons.append("犯罪嫌疑人、被告人因经济困难或者其他原因没有委托辩护人的，本人及近亲属可以申请（第二十四条）")

    # The means test (art. 34), by the province's standard for the district.
    basis.add(34)
    basis.add(41)
    materials.append("经济困难状况说明（如实填写；可由中心信息共享查询，或作个人诚信承诺，第四十一条）")
    standard = standards.on(district, today or dt.date.today())
    if size is None or income is None:
        reasons.append("需要家庭人口和家庭月收入才能判断是否经济困难，请中心审查")
        return _finish("review", reasons, materials, basis)
    if standard is None:
        reasons.append("本地区还没有配置经济困难标准，请中心审查")
        return _finish("review", reasons, materials, basis)
    per_person = income / size
    limit = standard.monthly_income_per_person
    where = f"{standard.area}" if standard.area != "*" else "本市"
    since = standard.effective_from.isoformat()
    if per_person > limit:
        reasons.append(f"家庭人均月收入约{per_person:.0f}元，高于{where}自{since}起执行的经济困难标准"
                       f"（人均每月{limit:.0f}元，第三十四条），一般不符合经济困难条件")
        if matter.kind == "criminal_defence":  # art. 24: "economic hardship or other reasons"
            reasons.append("但刑事案件没有委托辩护人的，也可以因经济困难以外的其他原因申请（第二十四条），请中心审查")
            return _finish("review", reasons, materials, basis)
        reasons.append("可以考虑：" + "；".join(ALTERNATIVES))
        return _finish("unlikely", reasons, materials, basis)
    reasons.append(f"家庭人均月收入约{per_person:.0f}元，不高于{where}自{since}起执行的经济困难标准"
                   f"（人均每月{limit:.0f}元，第三十四条）")
    return _finish(likely, reasons, materials, basis)


def _finish(result: str, reasons: list[str], materials: list[str], basis: set[int]) -> Screening:
    if result == "likely":
        basis.add(43)
        reasons.append("这是初步判断：是否给予法律援助由法律援助机构自收到申请之日起七日内审查决定（第四十三条）")
    return Screening(result, reasons, materials,
                     [{"law": LAW, "article": a} for a in sorted(basis)])


def _read(request: Any, standards: Standards) -> tuple[str, str | None, int | None, float | None, set[str]]:
    if not isinstance(request, dict):
        raise ScreenError("expected a JSON object")
    matter = request.get("matter")
    if not isinstance(matter, str) or matter not in MATTERS:
        raise ScreenError(f"unknown matter {matter!r}; one of: {', '.join(sorted(MATTERS))}")
    district = request.get("district") or None
    if district is not None and (not isinstance(district, str) or district not in standards.districts):
        raise ScreenError(f"unknown district {district!r}; one of: {', '.join(standards.districts)}"
                          " (or leave it out for the general standard)")
    size = request.get("household_size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 50):
        raise ScreenError("household_size must be a whole number from 1 to 50")
    income = request.get("household_monthly_income")
    if income is not None and (isinstance(income, bool) or not isinstance(income, int | float) or
                               not 0 <= income < 10**9):
        raise ScreenError("household_monthly_income must be a number of yuan, 0 or more")
    circumstances = request.get("circumstances", [])
    if not isinstance(circumstances, list) or not all(isinstance(c, str) for c in circumstances):
        raise ScreenError("circumstances must be a list of names")
    unknown = [c for c in circumstances if c not in CIRCUMSTANCES]
    if unknown:
        raise ScreenError(f"unknown circumstance {unknown[0]!r}; one of: {', '.join(sorted(CIRCUMSTANCES))}")
    return matter, district, size, None if income is None else float(income), set(circumstances)
