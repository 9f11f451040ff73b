"""Whether a citizen's message asks for a figure one of the calculators gives, and which.

"被辞退了能赔多少", "打官司要交多少诉讼费", "How much overtime pay am I owed?" ask for an amount; "公司不给经济补偿
怎么办" and "诉讼费谁承担" are about the same things but ask what to do, and are answered from the knowledge
base. So a message must ask for an amount (多少 / 怎么算 / how much …) and name what the amount is of. A
message about an amount none of the calculators give (律师费, 抚养费, 彩礼 …) is not taken.

Cues, not a trained model: the calculators are few and their words are the law's own (经济补偿, 诉讼费,
伤残等级), the held-out set ``nlu/eval/calculator_requests.yml`` (written blind to these rules) measures them.
"""

from __future__ import annotations

import re
import unicodedata

#: Asking for an amount, or how one is worked out.
_ASK = re.compile(
    r"多少|几个月|几倍|怎么算|如何算|咋算|怎样算|怎么计算|如何计算|计算|算一下|算算|帮我算|标准是|赔偿标准|补偿标准|"
    r"能赔|能拿|能得|能要|能领|赔偿金额|补偿金额|多高|上限|最高|按什么算|按.{0,10}算|[Nn]\s*\+\s*1|2[Nn](?![A-Za-z0-9])|"
    r"how much|how many months|calculat|comput|work out|(?:will|would|can|do|does|could) (?:i|he|she|we|they|my \w+) (?:get|receive|claim)|"
    r"entitled to|maximum|\bcap\b|what (?:are|is|would be) the .{0,30}(?:fee|cost|compensation|benefit)",
    re.IGNORECASE)
#: Whether an interest rate is lawful is a question of its cap.
_LAWFUL = re.compile(r"合法吗|违法吗|合不合法|受保护|受不受保护|算高利贷|is (?:that|it|this) legal|legal rate|too high|"
                     r"lawful", re.IGNORECASE)

#: Amounts of other things: none of the calculators gives these.
_OTHER = re.compile(r"律师费|公证费|鉴定费|抚养费|赡养费|彩礼|拆迁|征收|离婚.{0,6}(?:财产|分)|遗产|房价|房租|罚款|罚金|"
                    r"保险金|社保.{0,4}(?:交|缴)|公积金|失业金|失业保险|养老金|退休金|生育津贴|lawyer'?s? fee|child support|alimony|dowry|bride price",
                    re.IGNORECASE)

_INJURY_WORK = re.compile(r"工伤|工亡|因工|工作(?:中|时|期间)|上班(?:时|期间|途中)?|干活|工地|厂里|车间|"
                          r"work(?:place)?[- ]related|work(?:place)? injur|injur\w* at (?:work|the factory)|"
                          r"industrial injur|on the job|at work|factory|construction site", re.IGNORECASE)
_DEATH = re.compile(r"死亡|去世|身亡|死了|遇难|丧葬|抚恤|工亡|没抢救过来|died|death|killed|passed away", re.IGNORECASE)

_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = tuple((kind, re.compile(pattern, re.IGNORECASE)) for kind, pattern in (
    ("injury_death", r"工亡|因工死亡|一次性工亡补助金|丧葬补助金|work-related death|death benefit"),
    ("injury_disability", r"伤残补助金|一次性伤残|伤残津贴|work[- ]injury disability|disability allowance"),
    ("personal_injury", r"交通事故|车祸|被撞|撞死|撞伤|撞了|人身损害|人身伤害|死亡赔偿|残疾赔偿|伤残赔偿|丧葬费|"
                        r"被扶养人|被打伤|打伤|摔伤|咬伤|[一二三四五六七八九十\d]+级(?:伤残|残疾)|(?:伤残|残疾)[一二三四五六七八九十\d]+级|"
                        r"traffic accident|car accident|car crash|hit by a|run over|"
                        r"personal injur|wrongful death"),
    ("litigation_fee", r"诉讼费|起诉费|上诉费|受理费|立案费|(?:交|缴).{0,6}给法院|法院.{0,4}(?:交|缴)|打官司.{0,8}(?:费|钱)|起诉.{0,6}(?:交|缴|花).{0,4}(?:钱|费)|"
                       r"court (?:fee|cost)|filing fee|litigation (?:fee|cost)|cost\w* to sue|fee\w* to sue"),
    ("loan_interest_cap", r"利息|利率|年息|月息|几分利|[一二两三四五六七八九\d.]+\s*分(?:利|息)|高利贷|"
                          r"interest|usury|loan shark"),
    ("double_wage", r"(?:没|未|不|没有)(?:跟我)?签.{0,6}合同|没有(?:书面)?(?:劳动)?合同|二倍工资|双倍工资|两倍工资|"
                    r"double (?:wage|pay|salary)|twice (?:the|my) (?:wage|pay|salary)|no (?:written |labou?r )?contract|"
                    r"without a (?:written |labou?r )?contract|never signed"),
    ("overtime", r"加班|(?:节假日|春节|国庆|五一|元旦|初一|周末|休息日).{0,8}(?:上班|工作|干活)|overtime|extra hours|"
                 r"work\w* (?:on|during|over) (?:the |a )?(?:\w+ ){0,2}(?:holiday|weekend|rest day)"),
    ("unlawful_termination", r"违法(?:解除|辞退|开除|解雇)|非法(?:解除|辞退|开除|解雇)|无故(?:辞退|开除|解雇)|"
                             r"无理由(?:辞退|开除)|随便(?:辞退|开除)|(?:解除|辞退|开除).{0,8}赔偿金|2[Nn](?![A-Za-z0-9])|"
                             r"unlawful\w* (?:dismiss|fire|terminat)|wrongful\w* (?:dismiss|fire|terminat)|"
                             r"illegal\w* (?:dismiss|fire|terminat)|without (?:a )?(?:reason|cause)"),
    ("severance", r"经济补偿|补偿金|协商解除|解除劳动关系|(?:走人|离职|辞职|别来了|不用来了).{0,30}(?:补偿|多少|钱)|economic compensation|[Nn]\s*\+\s*1|辞退|开除|解雇|裁员|被裁|裁掉|解除(?:劳动)?合同|合同到期|不续签|"
                  r"倒闭|被炒|炒了我|炒鱿鱼|让我走|不让我干|劝退|离职.{0,4}补偿|severance|laid off|lay ?off|fired|"
                  r"dismiss|let (?:me )?go|redundan|terminat"),
))

_EXPLICIT_SEVERANCE = re.compile(r"经济补偿|补偿金|协商解除|economic compensation|[Nn]\s*\+\s*1|裁员|被裁|合同到期|不续签|倒闭|severance|laid off|lay ?off|"
                                 r"redundan", re.IGNORECASE)


def detect(text: str) -> tuple[str, ...]:
    """The calculators that would answer ``text`` (several when it could be either), or () if it does not
    ask for one of their figures."""
    said = unicodedata.normalize("NFKC", text)
    if _OTHER.search(said):
        return ()
    named = [kind for kind, cue in _KINDS if cue.search(said)]
    if not _ASK.search(said):
        return ("loan_interest_cap",) if "loan_interest_cap" in named and _LAWFUL.search(said) else ()
    if not named:
        injured = _INJURY_WORK.search(said) and re.search(r"伤|残|级|injur|disab", said, re.IGNORECASE)
        if injured or _DEATH.search(said) and _INJURY_WORK.search(said):
            named = ["injury_death" if _DEATH.search(said) else "injury_disability"]
        return tuple(named)
    if _INJURY_WORK.search(said) and re.search(r"伤|残|级|死|亡|injur|disab|died|death", said, re.IGNORECASE) and \
            not {"litigation_fee", "loan_interest_cap", "unlawful_termination"} & set(named):
        return ("injury_death",) if _DEATH.search(said) else ("injury_disability",)
    first = named[0]
    if first in ("unlawful_termination", "severance"):
        if "unlawful_termination" in named:
            return ("unlawful_termination",)
        # "被辞退了能赔多少": lawful (经济补偿) or not (赔偿金) is for the citizen to say
        return ("severance",) if _EXPLICIT_SEVERANCE.search(said) else ("severance", "unlawful_termination")
    return (first,)
