"""Court fees (案件受理费) under the 诉讼费用交纳办法: the tiers for property cases, the fixed fee for labour
disputes, and the halving for simplified procedure, settlement by mediation or withdrawal."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from calculators.context import Context
from calculators.labour import n, yuan
from calculators.result import Result, Step, Text

RULES = "诉讼费用交纳办法"
#: Art. 13 (1): up to 10,000 yuan a flat 50 yuan; above it, each band's part at its rate.
FLAT_UP_TO = Decimal(10_000)
FLAT_FEE = Decimal(50)
TIERS = (  # (upper bound of the band or None, rate in per cent)
    (Decimal(100_000), Decimal("2.5")),
    (Decimal(200_000), Decimal(2)),
    (Decimal(500_000), Decimal("1.5")),
    (Decimal(1_000_000), Decimal(1)),
    (Decimal(2_000_000), Decimal("0.9")),
    (Decimal(5_000_000), Decimal("0.8")),
    (Decimal(10_000_000), Decimal("0.7")),
    (Decimal(20_000_000), Decimal("0.6")),
    (None, Decimal("0.5")),
)
#: Art. 13 (4).
LABOUR_FEE = Decimal(10)


def property_fee(claim: Decimal) -> tuple[Decimal, list[Step]]:
    steps = [Step("不超过1万元的部分，每件交纳50元。", "Up to 10,000: 50 a case.", FLAT_FEE, f"{RULES}第十三条第（一）项")]
    fee, lower = FLAT_FEE, FLAT_UP_TO
    for upper, rate in TIERS:
        if claim <= lower:
            break
        part = (claim if upper is None else min(claim, upper)) - lower
        band = part * rate / 100
        fee += band
        where_zh = f"超过{n(lower / 10000)}万元" + (f"至{n(upper / 10000)}万元" if upper is not None else "")
        where_en = f"over {lower:,}" + (f" up to {upper:,}" if upper is not None else "")
        steps.append(Step(f"{where_zh}的部分{yuan(part)}元 × {n(rate)}% = {yuan(band)}元。",
                          f"The part {where_en}: {yuan(part)} × {n(rate)}% = {yuan(band)}.", band,
                          f"{RULES}第十三条第（一）项"))
        if upper is None:
            break
        lower = upper
    return fee, steps


def litigation_fee(values: dict[str, Any], ctx: Context) -> Result:
    case_type = values.get("case_type", "property")
    procedure = values.get("procedure", "ordinary")
    basis = [f"{RULES}第十三条"]
    assumptions: list[Text] = []
    if case_type == "labour":
        fee = LABOUR_FEE
        steps = [Step("劳动争议案件每件交纳10元。", "A labour dispute case: 10 a case.", fee, f"{RULES}第十三条第（四）项")]
        assumptions.append(Text("劳动争议一般须先经劳动争议仲裁，仲裁不收费；对仲裁裁决不服的才向法院起诉。",
                                "A labour dispute generally goes to labour arbitration first, which is free; a party "
                                "who does not accept the award then sues in court."))
        assumptions.append(Text("追索劳动报酬的案件可以不预交案件受理费。",
                                "A claim for unpaid wages may be filed without paying the fee in advance."))
        basis += [f"{RULES}第二十条", "劳动争议调解仲裁法第五条", "劳动争议调解仲裁法第五十三条"]
    else:
        claim = Decimal(values["claim_amount"])
        fee, steps = property_fee(claim)
        steps.append(Step(f"案件受理费合计{yuan(fee)}元。", f"Case acceptance fee: {yuan(fee)} in all.", fee,
                          f"{RULES}第十三条第（一）项"))
        assumptions.append(Text("按财产案件计算；离婚、人格权、知识产权、行政等案件另有标准，这里不计算。",
                                "Computed as a property case; divorce, personality rights, intellectual property and "
                                "administrative cases have their own rates, not computed here."))
    if procedure != "ordinary":
        article = "第十六条" if procedure == "simplified" else "第十五条"
        why_zh, why_en = (("适用简易程序审理", "heard under the simplified procedure") if procedure == "simplified"
                          else ("以调解方式结案或者申请撤诉", "settled by mediation or withdrawn"))
        fee = fee / 2
        steps.append(Step(f"{why_zh}，减半交纳：{yuan(fee)}元。", f"Halved, the case being {why_en}: {yuan(fee)}.", fee,
                          f"{RULES}{article}"))
        basis.append(f"{RULES}{article}")
    assumptions += [
        Text("这是起诉时预交的案件受理费；申请费（如保全、执行）另计，最终由败诉方负担或按比例分担。",
             "This is the case acceptance fee paid in advance; application fees (preservation, enforcement) are "
             "extra, and in the end the losing party bears the costs or they are shared."),
        Text("确有困难的，可以申请缓交、减交或者免交诉讼费用。",
             "A party in real difficulty may apply to defer, reduce or be exempted from the fees."),
    ]
    basis += [f"{RULES}第二十九条", f"{RULES}第四十四条"]
    return Result("litigation_fee", fee, steps, basis, assumptions)
