"""The interest a court supports on a private loan (民间借贷): at most four times the one-year LPR at the
time the contract was made (the Supreme People's Court's rules on private lending, art. 25)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from calculators.context import Context
from calculators.labour import n, yuan
from calculators.result import Result, Step, Text

RULES = "最高人民法院关于审理民间借贷案件适用法律若干问题的规定"
#: From this day the cap is four times the LPR (art. 31): contracts made before keep the old rules up to
#: the day before.
LPR_RULES_FROM = dt.date(2020, 8, 20)
MULTIPLE = 4


def loan_interest_cap(values: dict[str, Any], ctx: Context) -> Result:
    principal = Decimal(values["principal"])
    made = values.get("contract_date") or ctx.today
    assumptions: list[Text] = []
    basis = [f"{RULES}第二十五条"]
    on = made
    if made < LPR_RULES_FROM:
        on = ctx.today
        basis.append(f"{RULES}第三十一条")
        assumptions.append(Text(f"合同成立于2020年8月20日之前：合同成立至2020年8月19日的利息可以适用当时的司法解释，这里不计算；"
                                f"此后的利息按起诉时的本规定标准，这里用今天（{ctx.today}）适用的LPR代替起诉时的LPR。",
                                f"The contract predates 20 August 2020: interest up to 19 August 2020 may follow the "
                                f"interpretation then in force (not computed here); later interest follows these rules "
                                f"as at the time of suing, for which today's LPR ({ctx.today}) stands in."))
    lpr = ctx.figure(values, "lpr_percent", "lpr_1y", on=on, label_zh="一年期贷款市场报价利率")
    cap = lpr * MULTIPLE
    when_zh = "合同成立时" if on == made else "今天"
    steps = [Step(f"{when_zh}的一年期贷款市场报价利率为{n(lpr)}%，四倍为{n(cap)}%，这是法院支持的年利率上限。",
                  f"The one-year LPR {'when the contract was made' if on == made else 'today'} is {n(lpr)}%; four "
                  f"times it, {n(cap)}%, is the highest annual rate a court supports.", None, f"{RULES}第二十五条")]
    years = Decimal(values.get("years", 1))
    amount = principal * cap / 100 * years
    steps.append(Step(f"本金{yuan(principal)}元 × {n(cap)}% × {n(years)}年 = {yuan(amount)}元，为可以支持的利息上限。",
                      f"Principal {yuan(principal)} × {n(cap)}% × {n(years)} years = {yuan(amount)}: the most interest "
                      f"a court supports.", amount, f"{RULES}第二十五条"))
    if "annual_rate_percent" in values:
        agreed = Decimal(values["annual_rate_percent"])
        agreed_interest = principal * agreed / 100 * years
        if agreed > cap:
            steps.append(Step(f"约定年利率{n(agreed)}%高于上限{n(cap)}%：按约定应为{yuan(agreed_interest)}元，超过上限的"
                              f"{yuan(agreed_interest - amount)}元不受支持。",
                              f"The agreed {n(agreed)}% is above the {n(cap)}% cap: of the {yuan(agreed_interest)} "
                              f"agreed, the {yuan(agreed_interest - amount)} above the cap is not supported.",
                              agreed_interest - amount, f"{RULES}第二十五条"))
        else:
            amount = agreed_interest
            steps.append(Step(f"约定年利率{n(agreed)}%没有超过上限{n(cap)}%，按约定计算：{yuan(agreed_interest)}元。",
                              f"The agreed {n(agreed)}% is within the {n(cap)}% cap: the agreed interest "
                              f"{yuan(agreed_interest)} stands.", agreed_interest, f"{RULES}第二十五条"))
    assumptions += [
        Text("按单利计算；借期内利息、逾期利息、违约金和其他费用合计也不能超过这一上限。",
             "Simple interest; interest for the term, default interest, penalties and other charges together may "
             "not exceed this cap either."),
        Text("适用于自然人、法人和非法人组织之间的借贷，银行等持牌金融机构发放的贷款不适用。没有约定利息的，出借人主张利息不受支持；"
             "自然人之间对利息约定不明的也一样。",
             "Applies to lending between natural persons, legal persons and other organisations, not to loans made "
             "by licensed financial institutions. A lender who agreed no interest cannot claim any; between natural "
             "persons, neither can one whose agreement on interest is unclear."),
    ]
    basis += [f"{RULES}第一条", f"{RULES}第二十四条", f"{RULES}第二十八条", f"{RULES}第二十九条"]
    return Result("loan_interest_cap", amount, steps, basis, assumptions)
