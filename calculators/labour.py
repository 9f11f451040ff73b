"""Labour calculators: severance (经济补偿), compensation for unlawful termination (赔偿金), the double wage
for working without a written contract, and overtime pay."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from calculators.context import Context
from calculators.result import CalcError, Result, Step, Text, money

LCL = "劳动合同法"
REG = "劳动合同法实施条例"
#: The 21.75-day month and the 8-hour day (人力资源和社会保障部 2008 notice on the days counted per month).
DAYS_PER_MONTH = Decimal("21.75")
HOURS_PER_DAY = Decimal(8)
CAP_YEARS = 12


def n(number: Decimal) -> str:
    """A number as people write it: 8.5, 12000, 2.5 (no exponent, no trailing zeros)."""
    return format(number.normalize(), "f")


def yuan(number: Decimal) -> str:
    return f"{money(number):,}"


def severance(values: dict[str, Any], ctx: Context) -> Result:
    steps: list[Step] = []
    basis = [f"{LCL}第四十七条"]
    if "months_of_service" in values:
        months = Decimal(values["months_of_service"])
        field = "months_of_service"
    else:
        months = Decimal(values["years_of_service"]) * 12
        field = "years_of_service"
    months = months.quantize(Decimal("0.000001"))
    if months <= 0:
        raise CalcError(field, "must be more than zero", "工作年限应大于零")
    full, rest = int(months // 12), months % 12
    if rest >= 6:
        pay_months = Decimal(full + 1)
        part_zh, part_en = (f"剩余{n(rest)}个月，满六个月按一年计，计1个月工资",
                            f"the remaining {n(rest)} months are six or more and count as a full year: 1 month's wage")
    elif rest > 0:
        pay_months = full + Decimal("0.5")
        part_zh, part_en = (f"剩余{n(rest)}个月，不满六个月，计半个月工资",
                            f"the remaining {n(rest)} months are under six: half a month's wage")
    else:
        pay_months = Decimal(full)
        part_zh, part_en = "没有剩余月份", "no months left over"
    steps.append(Step(f"工作{full}年{n(rest)}个月：每满一年计1个月工资，满{full}年计{full}个月；{part_zh}；共{n(pay_months)}个月。",
                      f"{full} years and {n(rest)} months of service: one month's wage per full year, {full} months; "
                      f"{part_en}; {n(pay_months)} months in all.", basis=f"{LCL}第四十七条第一款"))

    wage = Decimal(values["monthly_wage"])
    minimum = ctx.figure(values, "minimum_wage", "minimum_wage", label_zh="当地月最低工资标准")
    if wage < minimum:
        basis.append(f"{REG}第二十七条")
        steps.append(Step(f"平均工资{yuan(wage)}元低于当地最低工资标准{yuan(minimum)}元，按最低工资标准计算。",
                          f"The average wage {yuan(wage)} is below the local minimum wage {yuan(minimum)}: "
                          f"the minimum wage is used.", minimum, f"{REG}第二十七条"))
        wage = minimum
    avg = ctx.figure(values, "local_avg_monthly_wage", "avg_monthly_wage", label_zh="上年度职工月平均工资")
    cap = avg * 3
    if wage > cap:
        steps.append(Step(f"月工资{yuan(wage)}元高于当地上年度职工月平均工资{yuan(avg)}元的三倍（{yuan(cap)}元），"
                          f"按{yuan(cap)}元计算，且计算年限最多十二年。",
                          f"The wage {yuan(wage)} exceeds three times the local average monthly wage {yuan(avg)} "
                          f"({yuan(cap)}): {yuan(cap)} is used, for at most twelve years.", cap,
                          f"{LCL}第四十七条第二款"))
        wage = cap
        if pay_months > CAP_YEARS:
            steps.append(Step(f"{n(pay_months)}个月超过十二年的上限，按12个月计算。",
                              f"{n(pay_months)} months exceed the twelve-year cap: 12 months are paid.",
                              basis=f"{LCL}第四十七条第二款"))
            pay_months = Decimal(CAP_YEARS)
    else:
        steps.append(Step(f"月工资{yuan(wage)}元未超过当地上年度职工月平均工资{yuan(avg)}元的三倍（{yuan(cap)}元），按实际计算。",
                          f"The wage {yuan(wage)} is not above three times the local average monthly wage "
                          f"{yuan(avg)} ({yuan(cap)}): it is used as it is.", wage, f"{LCL}第四十七条第二款"))
    amount = wage * pay_months
    steps.append(Step(f"经济补偿 = {yuan(wage)}元 × {n(pay_months)}个月 = {yuan(amount)}元。",
                      f"Severance = {yuan(wage)} × {n(pay_months)} months = {yuan(amount)}.", amount,
                      f"{LCL}第四十七条"))
    assumptions = [
        Text("月工资是解除或终止劳动合同前十二个月的平均工资，包括计时或计件工资以及奖金、津贴和补贴；工作不满十二个月的按实际月数平均。",
             "The monthly wage is the average over the twelve months before the contract ended, bonuses, "
             "allowances and subsidies included; under twelve months of work, the average of the months worked."),
        Text("这里算的是经济补偿，只在劳动合同法第四十六条规定的情形下才有；不包括拖欠的工资、加班费等其他款项。",
             "This is the severance payment, due only in the cases of art. 46 of the Labour Contract Law; "
             "wages owed, overtime and other sums are not included."),
        Text("2008年1月1日之前的工作年限，按当时有关规定处理，可能与这里的算法不同（劳动合同法第九十七条）。",
             "Service before 1 January 2008 is counted under the rules in force then and may differ from this "
             "calculation (Labour Contract Law art. 97)."),
        Text("使用的是今天适用的统计数据；解除劳动合同发生在更早的年份时，应使用当时公布的数据。",
             "The figures in use today are applied; for a contract that ended in an earlier year, use the "
             "figures published for that time."),
    ]
    basis.append(f"{LCL}第九十七条")
    return Result("severance", amount, steps, basis, assumptions)


def unlawful_termination(values: dict[str, Any], ctx: Context) -> Result:
    base = severance(values, ctx)
    amount = base.amount * 2
    steps = [*base.steps, Step(f"违法解除或终止劳动合同的赔偿金为经济补偿标准的二倍：{yuan(base.amount)}元 × 2 = {yuan(amount)}元。",
                               f"Compensation for unlawful termination is twice the severance rate: "
                               f"{yuan(base.amount)} × 2 = {yuan(amount)}.", amount, f"{LCL}第八十七条")]
    basis = [f"{LCL}第四十八条", f"{LCL}第八十七条", *[b for b in base.legal_basis if b != f"{LCL}第九十七条"],
             f"{REG}第二十五条"]
    assumptions = [
        Text("赔偿金适用于劳动者不要求继续履行劳动合同、或者合同已经不能继续履行的情形；要求继续履行的，用人单位应当继续履行。",
             "The compensation applies when the worker does not ask to keep the job or the contract can no longer "
             "be performed; a worker who asks to keep the job is to be kept on."),
        Text("支付了赔偿金的，不再另付经济补偿；赔偿金的年限从用工之日起计算（包括2008年以前的工作年限）。",
             "Once this compensation is paid no severance is paid on top; its years count from the first day of "
             "employment (service before 2008 included)."),
        base.assumptions[0], base.assumptions[3],
    ]
    return Result("unlawful_termination", amount, steps, basis, assumptions)


def double_wage(values: dict[str, Any], ctx: Context) -> Result:
    months = Decimal(values["months_without_contract"])
    wage = Decimal(values["monthly_wage"])
    extra = min(max(months - 1, Decimal(0)), Decimal(11))
    steps = [Step(f"自用工之日起满一个月的次日开始，每月多付一个月工资；最多到满一年的前一日，即最多11个月。"
                  f"未签合同{n(months)}个月，应多付{n(extra)}个月。",
                  f"From the day after the first month of employment, one extra month's wage per month, until the "
                  f"day before the first anniversary: at most 11 months. {n(months)} months without a contract "
                  f"give {n(extra)} extra months.", basis=f"{REG}第六条、第七条")]
    amount = wage * extra
    steps.append(Step(f"另一倍工资 = {yuan(wage)}元 × {n(extra)}个月 = {yuan(amount)}元。",
                      f"The extra wage = {yuan(wage)} × {n(extra)} months = {yuan(amount)}.", amount,
                      f"{LCL}第八十二条"))
    assumptions = [
        Text("月工资为应得的正常工资；不足一个月的部分按比例计算。",
             "The monthly wage is the normal wage due; part of a month is counted pro rata."),
        Text("这是在已付工资之外另外应付的一倍工资。第一个月内不签合同不产生二倍工资。",
             "This is the extra wage on top of wages already paid; no double wage is due for the first month."),
        Text("用工满一年仍未签书面合同的，视为已订立无固定期限劳动合同，此后不再按本项计算二倍工资。",
             "After a full year without a written contract an open-ended contract is deemed made, and this double "
             "wage stops."),
        Text("劳动争议申请仲裁的时效为一年，从知道或应当知道权利被侵害之日起计算；较早月份的二倍工资可能因超过时效而得不到支持。",
             "Labour arbitration must be sought within one year of knowing of the infringement; the double wage "
             "of earlier months may be time-barred."),
    ]
    basis = [f"{LCL}第八十二条", f"{REG}第六条", f"{REG}第七条", f"{LCL}第十四条", "劳动争议调解仲裁法第二十七条"]
    return Result("double_wage", amount, steps, basis, assumptions)


_OVERTIME = (  # field, rate, zh, en, the item of 劳动法 art. 44
    ("workday_hours", Decimal("1.5"), "工作日延长工作时间", "extended hours on workdays", "（一）"),
    ("restday_hours", Decimal(2), "休息日工作且不能补休", "rest days with no time off in lieu", "（二）"),
    ("holiday_hours", Decimal(3), "法定休假日工作", "statutory holidays", "（三）"),
)


def overtime(values: dict[str, Any], ctx: Context) -> Result:
    if not any(Decimal(values.get(f, 0)) > 0 for f, *_ in _OVERTIME):
        raise CalcError("workday_hours", "give the hours of at least one kind of overtime",
                        "请至少填写一种加班的小时数")
    wage = Decimal(values["monthly_wage"])
    daily = wage / DAYS_PER_MONTH
    hourly = daily / HOURS_PER_DAY
    steps = [Step(f"日工资 = {yuan(wage)}元 ÷ 21.75天 = {yuan(daily)}元；小时工资 = 日工资 ÷ 8 = {yuan(hourly)}元。",
                  f"Daily wage = {yuan(wage)} / 21.75 days = {yuan(daily)}; hourly wage = daily / 8 = {yuan(hourly)}.",
                  hourly)]
    amount = Decimal(0)
    for name, rate, zh, en, item in _OVERTIME:
        hours = Decimal(values.get(name, 0))
        if hours <= 0:
            continue
        pay = money(hourly * rate * hours)
        amount += pay
        steps.append(Step(f"{zh}：{n(hours)}小时 × {yuan(hourly)}元 × {n(rate * 100)}% = {yuan(pay)}元（不低于）。",
                          f"{en}: {n(hours)} hours × {yuan(hourly)} × {n(rate * 100)}% = {yuan(pay)} (at least).",
                          pay, f"劳动法第四十四条第{item}项"))
    steps.append(Step(f"加班工资合计不低于{yuan(amount)}元。", f"Overtime pay: at least {yuan(amount)} in all.", amount,
                      "劳动法第四十四条"))
    assumptions = [
        Text("月计薪天数按21.75天、每天8小时折算，这是2008年人力资源和社会保障部关于职工全年月平均工作时间和工资折算问题的通知的做法，不是法律条文。",
             "A month counts 21.75 paid days of 8 hours, as the Ministry of Human Resources and Social Security's "
             "2008 notice on converting monthly wages sets; it is not a statute."),
        Text("月工资指正常工作时间的工资；劳动合同另有约定或当地另有规定的，以约定或规定为准。",
             "The monthly wage is the pay for normal working hours; a contract term or local rule may set the base "
             "differently."),
        Text("法律规定的是最低标准（“不低于”）；休息日安排补休的，不支付休息日加班工资。",
             "The law sets minimums (\"no less than\"); rest-day work compensated with time off earns no rest-day "
             "overtime pay."),
    ]
    return Result("overtime", amount, steps, ["劳动法第四十四条"], assumptions)
