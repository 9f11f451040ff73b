"""Injury calculators: work-injury benefits under the 工伤保险条例 (disability grades and death) and
damages for personal injury under the Supreme People's Court's interpretation (death or disability)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from calculators.context import Context
from calculators.labour import n, yuan
from calculators.result import CalcError, Result, Step, Text

WIR = "工伤保险条例"
PI = "最高人民法院关于审理人身损害赔偿案件适用法律若干问题的解释"

#: The one-off disability allowance, in months of one's own wage (arts. 35 (1), 36 (1), 37 (1)).
DISABILITY_MONTHS = {1: 27, 2: 25, 3: 23, 4: 21, 5: 18, 6: 16, 7: 13, 8: 11, 9: 9, 10: 7}
#: The monthly disability allowance, in per cent of one's own wage (arts. 35 (2), 36 (2)).
ALLOWANCE_PERCENT = {1: 90, 2: 85, 3: 80, 4: 75, 5: 70, 6: 60}
_CN_ARTICLE = {35: "第三十五条", 36: "第三十六条", 37: "第三十七条"}


def _article(grade: int) -> int:
    return 35 if grade <= 4 else 36 if grade <= 6 else 37


def injury_disability(values: dict[str, Any], ctx: Context) -> Result:
    grade = int(values["grade"])
    wage = Decimal(values["monthly_wage"])
    article = f"{WIR}{_CN_ARTICLE[_article(grade)]}"
    steps: list[Step] = []
    try:
        avg: Decimal | None = ctx.figure(values, "local_avg_monthly_wage", "avg_monthly_wage",
                                         label_zh="统筹地区职工月平均工资")
    except CalcError:
        avg = None
    if avg is None:
        ctx.warnings.append(Text("不知道统筹地区职工平均工资，没有按其60%至300%调整本人工资，请核实。",
                                 "The area's average wage is unknown: the own wage was not held between 60% and "
                                 "300% of it. Please check."))
        base = wage
    else:
        low, high = avg * Decimal("0.6"), avg * 3
        base = min(max(wage, low), high)
        if base != wage:
            steps.append(Step(f"本人工资{yuan(wage)}元{'低于' if wage < low else '高于'}统筹地区职工月平均工资{yuan(avg)}元的"
                              f"{'60%' if wage < low else '300%'}，按{yuan(base)}元计算。",
                              f"The own wage {yuan(wage)} is {'below 60%' if wage < low else 'above 300%'} of the "
                              f"area's average monthly wage {yuan(avg)}: {yuan(base)} is used.", base,
                              f"{WIR}第六十四条"))
        else:
            steps.append(Step(f"本人工资{yuan(wage)}元在统筹地区职工月平均工资{yuan(avg)}元的60%至300%之间，按实际计算。",
                              f"The own wage {yuan(wage)} lies between 60% and 300% of the area's average monthly "
                              f"wage {yuan(avg)}: it is used as it is.", base, f"{WIR}第六十四条"))
    months = DISABILITY_MONTHS[grade]
    amount = base * months
    steps.append(Step(f"{grade}级伤残的一次性伤残补助金为{months}个月的本人工资：{yuan(base)}元 × {months} = {yuan(amount)}元。",
                      f"The one-off disability allowance for grade {grade} is {months} months of one's own wage: "
                      f"{yuan(base)} × {months} = {yuan(amount)}.", amount, article))
    steps.extend(_what_follows(grade, base))
    assumptions = [
        Text("本人工资指受伤或患职业病前十二个月的平均月缴费工资；统筹地区职工平均工资使用今天适用的数据。",
             "One's own wage is the average monthly contribution wage over the twelve months before the injury "
             "or illness; the area's average wage in use today is applied."),
        Text("已参加工伤保险的，由工伤保险基金支付；这里不包括停工留薪期工资、医疗费和各地规定的一次性工伤医疗补助金、伤残就业补助金。",
             "With work-injury insurance the fund pays; wages during the paid leave for treatment, medical costs "
             "and the one-off grants set by each province are not included."),
    ]
    return Result("injury_disability", amount, steps, [article, f"{WIR}第六十四条"], assumptions)


def _what_follows(grade: int, base: Decimal) -> list[Step]:
    if grade <= 4:
        pct = ALLOWANCE_PERCENT[grade]
        return [Step(f"一至四级：保留劳动关系、退出工作岗位，从工伤保险基金按月领取伤残津贴，为本人工资的{pct}%"
                     f"（约{yuan(base * pct / 100)}元/月，不计入上面的一次性金额），低于当地最低工资标准的补足；"
                     f"达到退休年龄办理退休后改领养老保险待遇，低于伤残津贴的由基金补足。",
                     f"Grades 1-4: the job is kept but the worker leaves the post and receives a monthly disability "
                     f"allowance of {pct}% of own wage (about {yuan(base * pct / 100)} a month, not in the one-off "
                     f"amount above), topped up to the local minimum wage; on retirement, the pension, topped up to "
                     f"the allowance.", basis=f"{WIR}第三十五条"),
                Step("经鉴定需要生活护理的，另按月领取生活护理费（统筹地区上年度职工月平均工资的50%、40%或30%）。",
                     "Where nursing care is confirmed, a monthly care allowance (50%, 40% or 30% of the area's "
                     "average monthly wage) is paid as well.", basis=f"{WIR}第三十四条")]
    if grade <= 6:
        pct = ALLOWANCE_PERCENT[grade]
        return [Step(f"五、六级：保留劳动关系，由单位安排适当工作；难以安排的，由单位按月发给本人工资{pct}%的伤残津贴"
                     f"（约{yuan(base * pct / 100)}元/月）。本人提出解除劳动关系的，另有一次性工伤医疗补助金和伤残就业补助金，标准由省级政府规定。",
                     f"Grades 5-6: the job is kept and the employer arranges suitable work; failing that, it pays a "
                     f"monthly allowance of {pct}% of own wage (about {yuan(base * pct / 100)}). A worker who ends "
                     f"the employment also receives the one-off medical and employment grants the province sets.",
                     basis=f"{WIR}第三十六条")]
    return [Step("七至十级：劳动合同期满终止或本人提出解除的，另有一次性工伤医疗补助金（基金支付）和一次性伤残就业补助金（单位支付），标准由省级政府规定。",
                 "Grades 7-10: when the contract expires or the worker ends it, the one-off medical grant (from the "
                 "fund) and employment grant (from the employer) follow, at rates the province sets.",
                 basis=f"{WIR}第三十七条")]


def injury_death(values: dict[str, Any], ctx: Context) -> Result:
    avg = ctx.figure(values, "local_avg_monthly_wage", "avg_monthly_wage", label_zh="统筹地区上年度职工月平均工资")
    national = ctx.figure(values, "national_urban_disposable_income", "national_urban_disposable_income",
                          label_zh="上一年度全国城镇居民人均可支配收入")
    funeral = avg * 6
    lump = national * 20
    amount = funeral + lump
    basis = f"{WIR}第三十九条"
    steps = [
        Step(f"丧葬补助金 = 统筹地区上年度职工月平均工资{yuan(avg)}元 × 6个月 = {yuan(funeral)}元。",
             f"Funeral grant = the area's average monthly wage {yuan(avg)} × 6 months = {yuan(funeral)}.", funeral,
             f"{basis}第一款第（一）项"),
        Step(f"一次性工亡补助金 = 上一年度全国城镇居民人均可支配收入{yuan(national)}元 × 20 = {yuan(lump)}元。",
             f"One-off death benefit = the previous year's national urban per-capita disposable income "
             f"{yuan(national)} × 20 = {yuan(lump)}.", lump, f"{basis}第一款第（三）项"),
        Step("此外，死者生前提供主要生活来源、无劳动能力的亲属按月领取供养亲属抚恤金：配偶每月为职工本人工资的40%，其他亲属每人30%，"
             "孤寡老人或孤儿每人再加10%，合计不超过职工生前工资。这是按月发放的，不计入上面的金额。",
             "Relatives who depended on the worker and cannot work also receive a monthly pension: the spouse 40% "
             "of the worker's wage, each other relative 30%, 10% more for a lone elderly person or an orphan, in "
             "all no more than the worker's wage. It is paid monthly and not included above.",
             basis=f"{basis}第一款第（二）项"),
        Step(f"合计一次性金额：{yuan(funeral)}元 + {yuan(lump)}元 = {yuan(amount)}元。",
             f"One-off amounts in all: {yuan(funeral)} + {yuan(lump)} = {yuan(amount)}.", amount, basis),
    ]
    assumptions = [
        Text("从工伤保险基金领取；“上一年度”以今天适用的统计数据计算，实际按死亡时的上一年度数据。",
             "Paid by the work-injury insurance fund; \"the previous year\" uses the figures in use today, while "
             "the fund uses those of the year before the death."),
        Text("一至四级伤残职工在停工留薪期满后死亡的，近亲属只享受丧葬补助金和供养亲属抚恤金，不享受一次性工亡补助金。",
             "If a worker with a grade 1-4 disability dies after the paid leave for treatment, the relatives "
             "receive the funeral grant and the pensions but not the one-off death benefit."),
    ]
    return Result("injury_death", amount, steps, [basis], assumptions)


# ---- personal injury (人身损害赔偿) -------------------------------------------------------------

def compensation_years(age: int) -> int:
    """Twenty years; from 60, one year less for each year of age; from 75, five years (arts. 12, 15, 17)."""
    if age >= 75:
        return 5
    if age > 60:
        return 20 - (age - 60)
    return 20


def personal_injury(values: dict[str, Any], ctx: Context) -> Result:
    case = values["case"]
    age = int(values["age"])
    death = case == "death"
    income = ctx.figure(values, "urban_disposable_income", "urban_disposable_income",
                        label_zh="上一年度城镇居民人均可支配收入")
    years = compensation_years(age)
    steps: list[Step] = []
    basis: list[str] = []
    assumptions: list[Text] = []
    if age >= 75:
        years_zh, years_en = f"{age}岁，七十五周岁以上按5年计算", f"aged {age}, 75 or over: 5 years"
    elif age > 60:
        years_zh, years_en = (f"{age}岁，六十周岁以上每增加一岁减少一年：20 − {age - 60} = {years}年",
                              f"aged {age}, one year less for each year over 60: 20 − {age - 60} = {years} years")
    else:
        years_zh, years_en = f"{age}岁，按20年计算", f"aged {age}: 20 years"
    coefficient = Decimal(1)
    if death:
        article = f"{PI}第十五条"
        compensation = income * years
        steps.append(Step(f"死亡赔偿金 = 上一年度城镇居民人均可支配收入{yuan(income)}元 × {years}年（{years_zh}）= {yuan(compensation)}元。",
                          f"Death compensation = the previous year's urban per-capita disposable income "
                          f"{yuan(income)} × {years} years ({years_en}) = {yuan(compensation)}.", compensation, article))
        avg = ctx.figure(values, "local_avg_monthly_wage", "avg_monthly_wage", label_zh="上一年度职工月平均工资")
        funeral = avg * 6
        steps.append(Step(f"丧葬费 = 上一年度职工月平均工资{yuan(avg)}元 × 6个月 = {yuan(funeral)}元。",
                          f"Funeral costs = the previous year's average monthly wage {yuan(avg)} × 6 months = "
                          f"{yuan(funeral)}.", funeral, f"{PI}第十四条"))
        amount = compensation + funeral
        basis += [article, f"{PI}第十四条"]
    else:
        if "disability_grade" not in values:
            raise CalcError("disability_grade", "required for a disability: the grade 1-10", "伤残的请提供伤残等级（1-10级）")
        grade = int(values["disability_grade"])
        coefficient = Decimal(11 - grade) / 10
        article = f"{PI}第十二条"
        compensation = income * years * coefficient
        steps.append(Step(f"残疾赔偿金 = 上一年度城镇居民人均可支配收入{yuan(income)}元 × {years}年（{years_zh}）× "
                          f"{grade}级伤残系数{n(coefficient * 100)}% = {yuan(compensation)}元。",
                          f"Disability compensation = the previous year's urban per-capita disposable income "
                          f"{yuan(income)} × {years} years ({years_en}) × {n(coefficient * 100)}% for grade {grade} = "
                          f"{yuan(compensation)}.", compensation, article))
        amount = compensation
        basis.append(article)
        assumptions.append(Text("伤残系数按审判实践中通行的做法：一级100%，每降一级减少10%，十级10%；解释本身只说按丧失劳动能力程度或伤残等级计算。",
                                "The disability coefficients follow common court practice (grade 1 100%, 10% less per "
                                "grade, grade 10 10%); the interpretation itself says only that the degree of lost "
                                "working capacity or the grade decides."))
    ages = values.get("dependant_ages") or []
    if ages:
        support = _dependants(values, ctx, [int(a) for a in ages], coefficient, death, steps, assumptions)
        amount += support
        basis += [f"{PI}第十六条", f"{PI}第十七条"]
    steps.append(Step(f"以上合计{yuan(amount)}元。", f"In all {yuan(amount)}.", amount))
    basis.append(f"{PI}第二十二条")
    assumptions += [
        Text("使用受诉法院所在地的统计数据（今天适用的）；能证明住所地或经常居住地标准更高的，可以按该地标准。",
             "The figures are those of the court's place in use today; a victim who proves a higher standard where "
             "they live may claim by that one."),
        Text("医疗费、误工费、护理费、交通费、住院伙食补助费、营养费、残疾辅助器具费和精神损害抚慰金等也可以主张，这里不计算。",
             "Medical costs, lost earnings, nursing, transport, hospital meal allowance, nutrition, assistive "
             "devices and damages for mental distress may also be claimed; they are not computed here."),
        Text("这是全部损失的数额；受害人自己也有过错的，可以减轻对方的责任，按责任比例承担。因工伤受害的，按工伤保险条例处理。",
             "This is the whole loss; where the victim was also at fault the other side's liability may be "
             "reduced. A work injury is dealt with under the Regulations on Work-Related Injury Insurance."),
    ]
    basis.append("民法典第一千一百七十三条")
    return Result("personal_injury", amount, steps, basis, assumptions)


def _dependants(values: dict[str, Any], ctx: Context, ages: list[int], coefficient: Decimal, death: bool,
                steps: list[Step], assumptions: list[Text]) -> Decimal:
    """Dependants' living costs, year by year: each dependant's share while their years last, the yearly
    total at most one year's consumption expenditure (art. 17); in a disability case, times the coefficient."""
    spending = ctx.figure(values, "urban_consumption_expenditure", "urban_consumption_expenditure",
                          label_zh="上一年度城镇居民人均消费支出")
    supporters = int(values.get("co_supporters") or 1)
    spans = [18 - a if a < 18 else compensation_years(a) for a in ages]
    share = spending / supporters
    total = Decimal(0)
    for year in range(1, max(spans) + 1):
        total += min(share * sum(1 for s in spans if s >= year), spending)
    total *= coefficient
    described = "、".join(f"{a}岁计{s}年" for a, s in zip(ages, spans, strict=True))
    described_en = ", ".join(f"aged {a}: {s} years" for a, s in zip(ages, spans, strict=True))
    steps.append(Step(f"被扶养人生活费：按上一年度城镇居民人均消费支出{yuan(spending)}元，每人每年由{supporters}位扶养人分担（受害人负担"
                      f"{yuan(share)}元）；{described}；每年合计不超过{yuan(spending)}元"
                      + (f"；乘以伤残系数{n(coefficient * 100)}%" if coefficient != 1 else "")
                      + f"，共{yuan(total)}元，计入{'死亡' if death else '残疾'}赔偿金。",
                      f"Dependants' living costs: the previous year's urban per-capita consumption expenditure "
                      f"{yuan(spending)} per dependant a year, shared by {supporters} supporter(s) (the victim's "
                      f"part {yuan(share)}); {described_en}; at most {yuan(spending)} a year in all"
                      + (f"; times the coefficient {n(coefficient * 100)}%" if coefficient != 1 else "")
                      + f": {yuan(total)}, added to the compensation.", total, f"{PI}第十七条"))
    assumptions.append(Text("被扶养人生活费：未成年人算到十八周岁；成年被扶养人视为无劳动能力又无其他生活来源，按二十年（六十周岁以上每增一岁减一年，"
                            "七十五周岁以上五年）；有其他扶养人的，按扶养人人数平均分担；年龄按整岁计算；伤残的先按每年上限封顶再乘以伤残系数。",
                            "Dependants: a minor until 18; an adult dependant is taken to be unable to work and without "
                            "other means, for 20 years (one less per year over 60, 5 from 75); the cost is shared "
                            "equally among the supporters; ages in whole years; in a disability case the yearly cap "
                            "is applied before the coefficient."))
    return total
