"""Urgency and complexity triage. Urgency overrides everything else the bot would do.

Rules here catch unmistakable phrasings of present danger, each with a reason that tells the lawyer
why the chat jumped the queue; the learned model (nlu/urgency.py) catches the rest. Only patterns
that were right at least three times in four on training_data/urgency.yml and the development set
are kept: words such as 家暴 or 自杀 alone appear far more often in questions about the law.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from nlu.backend import UrgencyScore
from nlu.text import chinese_numeral, normalize

#: reason -> patterns. Reasons decide which emergency numbers come first in the reply.
_NOW = r"(正在|又在|又|刚刚?|刚才|今天|今晚|今早|昨晚|现在|一直|天天|马上|这会儿?)"
URGENT_PATTERNS: dict[str, list[str]] = {
    "domestic_violence": [
        r"(老公|丈夫|男人|老婆|妻子|媳妇|男朋友|女朋友|对象|前夫|前妻|儿子|公公|婆婆|继父|后爸|爸爸?|他|她)"
        + _NOW + r"?.{0,4}(在)?(打|揍|扇|踹|掐|抽|推倒|拖|扯)(我|孩子|俺|他妈|老伴)",
        _NOW + r".{0,8}(打我|揍我|扇我|踹我|掐我|对我动手|动手打)",
        r"被(老公|丈夫|男人|对象|男朋友|家里人|老婆|儿子)(打|揍|锁|关)",
        r"(husband|boyfriend|partner|wife) (is )?(hitting|beating) me",
        r"(hitting|beating|hurting|choking) me (right )?now",
    ],
    "threat_to_life": [
        r"(拿|持|举|拎)着?(刀|斧头|钢管|砍刀|枪|硫酸|棍子)", r"泼.{0,3}硫酸", r"救命", r"追(砍|打|杀)",
        r"(kill|murder|stab) (me|him|her)", r"threaten(ed|s|ing)? to (kill|hurt|stab)", r"\b(has|with) a (knife|gun)\b",
    ],
    "self_harm": [
        r"不想活", r"活不下去", r"轻生", r"割腕", r"(喝|吃|吞)(了)?.{0,4}(农药|安眠药|老鼠药|百草枯|一整板)",
        r"(站在|在|爬上|上了)(楼顶|天台|江边|河边|桥上|楼边|阳台边)", r"(去|要|想)(跳江|跳河|跳楼|跳海|寻死|跳下去)",
        r"(烧)?(炭|碳)(都)?(买好|烧上|点上)", r"(割|划)(了)?(手腕|腕)",
        r"kill myself", r"end my life", r"want to die",
    ],
    "child_in_danger": [
        r"(孩子|小孩|儿子|女儿|闺女|娃|宝宝).{0,12}(被打|被虐待|被拐|失踪|不见了|找不到了?|还没回家|联系不上|被性侵|被猥亵|被锁|关在|关车里)",
        r"虐待(孩子|儿童|小孩)", r"(发现|捡到)(了)?(一个)?(婴儿|弃婴|小孩)",
        r"(child|kid|son|daughter|baby)( \d+ years old)? (is )?(missing|abused|being abused|locked)",
    ],
    "just_detained": [
        r"(刚|刚刚|刚才|今天|昨天|昨晚|今早|今晚|早上|下午)(被)?(抓|带走|拘留|刑拘|逮捕)",
        r"被(警察|公安|派出所|经侦|刑警|民警|缉毒|检察院)(的人)?(抓|带走|拘|一锅端)", r"让(派出所|警察|公安)(给)?(抓|带走|一锅端)",
        r"(刚|刚刚)?被刑事拘留", r"(我)?(现在)?(人)?(在|关在)(派出所|看守所).{0,10}(拘留|笔录|审)",
        r"(was|been|got) (just )?(arrested|detained|taken by (the )?police)",
    ],
    "imminent_deadline": [
        r"(明天|后天|今天|明早|这周[一二三四五六日天]?|本周|周[一二三四五六日]|礼拜[一二三四五六天]|[一二三两四五六七\d]+天(后|内|之内))"
        r"(上午|下午|早上)?(就)?(要)?(开庭|上诉期|截止|到期|过期|判决|宣判|仲裁开庭|开拍|拍卖)",
        r"(开庭|上诉|答辩|举证|复议|异议|申诉)(期|期限)?.{0,8}(明天|后天|今天|就剩|只剩|还剩|到这周)",
        r"(只剩|还剩|就剩)(下)?(一|两|二|三|四|五|六|七|\d)天",
        r"(hearing|deadline|trial) (is )?(tomorrow|today|in \d+ days)",
    ],
    "wage_crowd": [
        r"(几十|十几|二十几|三十多|上百|一两百|好多|很多|一群|一帮|\d+多?)(个|名)?(工人|工友|农民工|老乡|人).{0,12}(堵|围|聚集|闹|坐着不走|讨薪|要工资)",
        r"(堵|围)(了|住)?(公司|工地|大门|门口|厂门|路|车|售楼处).{0,8}(讨薪|要工资|要钱|不让)",
        r"(爬|站|上)(到)?(塔吊|楼顶|楼上|桥上).{0,12}(工资|跳)", r"(要|准备)(去)?(跳楼|堵路|拉横幅)(讨薪|要工资)",
        r"workers? (are )?(blocking|protesting)",
    ],
    "eviction_today": [
        r"(今天|现在|马上|正在|明天|今早|今晚).{0,8}(强拆|强制拆|赶出|撵出|扔出|断水断电|换锁|清场)",
        r"(房东|开发商|拆迁队|施工队|物业|商场).{0,8}(正在|现在|马上|已经).{0,6}(拆|赶|撵|换锁|清)",
        r"(把锁换|换了锁|锁换了|焊死|断水断电|停水停电)", r"(挖掘机|铲车|拆迁队).{0,10}(到|来|开始|在拆|推)",
        r"(东西|被褥|行李|家具).{0,6}(扔出|全扔|被扔)",
        r"(being )?evicted today", r"threw (all )?my (stuff|things|belongings) out",
    ],
}

_COMPILED = {reason: [re.compile(p) for p in pats] for reason, pats in URGENT_PATTERNS.items()}

# Words that make a danger pattern a question about law rather than an emergency.
_HYPOTHETICAL = re.compile(
    r"(冷静期|如果|假如|万一|以前|多年前|去年|前年|几年前|什么是|怎么认定|如何认定|是否属于|算不算|新闻|电影|小说|电视剧"
    r"|网上说|听说|判几年|怎么判|量刑|告诫书|保险公司赔|thesis|in general|just asking|跳楼价)"
)

COMPLEX_PATTERNS: dict[str, list[str]] = {
    # A case of the citizen's that a court or tribunal is still deciding. A judgment already given
    # ("已起诉，胜诉了", "法院判决书规定…") is not: what follows it (enforcement, support) is answerable.
    "proceedings_under_way": [
        r"(已经|已|正在|在)(起诉|立案|开庭|审理|上诉|仲裁|申请仲裁|打官司)(?![^。！？!?]{0,12}(胜诉|败诉|判决|判了|结案|生效|执行))",
        r"(一审|二审|再审)(开庭|审理中|还没判|没判)", r"(马上|下周|明天|后天|月底)(就)?(要)?开庭",
        r"法院(传票|立案了)", r"(收到|接到)(了)?(法院)?(的)?(传票|起诉状|应诉通知|仲裁通知)",
        r"(lawsuit|case) (is )?(pending|filed|under way)", r"court (hearing|summons)",
    ],
    "asks_for_lawyer": [
        r"(找|请|要|联系|需要)(个|一个|一位)?(真人)?律师(帮|代理|打官司|聊|谈)", r"律师(代理|帮我打)",
        r"(talk|speak) to a (real )?lawyer",
    ],
}
_COMPLEX = {reason: [re.compile(p) for p in pats] for reason, pats in COMPLEX_PATTERNS.items()}

_AMOUNT = re.compile(r"(\d+(?:\.\d+)?)\s*(亿|千万|百万|万|千|元|块)")
#: A sum in Chinese numerals: with a unit of money after it (三千块, 五百元, 两万), or big enough to say so
#: itself (两万五, 一千二), but not a count of something else (三千个, 五百米, 一百二十天).
_CN_AMOUNT = re.compile(r"([一二两三四五六七八九十][零一二两三四五六七八九十百千万亿]*)\s*(亿|万|块钱|块|元)?"
                        r"(?![零一二两三四五六七八九十百千万亿个年月天日岁次人斤米里平号层楼台辆件条页分秒小周])")
_UNIT = {"亿": 100_000_000, "千万": 10_000_000, "百万": 1_000_000, "万": 10_000, "千": 1_000, "元": 1, "块": 1}


@dataclass
class Triage:
    urgent: bool = False
    urgent_reasons: list[str] = field(default_factory=list)
    complex_reasons: list[str] = field(default_factory=list)
    amounts: list[int] = field(default_factory=list)
    urgency_probability: float | None = None
    #: Neither surely urgent nor surely not: the bot asks "are you safe now?" (with the kind it suspects).
    safety_check: bool = False
    check_kind: str | None = None

    @property
    def complex(self) -> bool:
        return bool(self.complex_reasons)


def amounts_in(text: str) -> list[int]:
    """Amounts of money in yuan mentioned in the text ("3万", "5000元", "两万")."""
    found = []
    for number, unit in _AMOUNT.findall(text):
        found.append(int(float(number) * _UNIT[unit]))
    for number, unit in _CN_AMOUNT.findall(text):
        if unit or re.search(r"[百千万亿]", number):
            value = chinese_numeral(number.replace("亿", "")) * (100_000_000 if number.endswith("亿") else 1)
            found.append(value * _UNIT.get(unit, 1) if unit not in ("块钱",) else value)
    return found


def urgency_reasons(text: str) -> list[str]:
    normalized = normalize(text)
    reasons = [r for r, pats in _COMPILED.items() if any(p.search(normalized) for p in pats)]
    if reasons and _HYPOTHETICAL.search(normalized):
        # A question about the law, the news or the past; the learned model still looks at it.
        return []
    return reasons


def triage(text: str, amount_limit: int, learned: UrgencyScore | None = None) -> Triage:
    """Rules first; the learned model adds what no rule lists. What a rule found is never let pass: it
    is an alarm, or a safety question when the model reads no danger in it at all."""
    normalized = normalize(text)
    result = Triage(urgent_reasons=urgency_reasons(normalized), amounts=amounts_in(normalized))
    if learned is not None:
        result.urgency_probability = round(learned.probability, 4)
        if result.urgent_reasons and learned.check_threshold is not None and learned.probability < learned.check_threshold:
            # A rule's words without anything the model reads as danger ("我在楼顶晒被子"): a rule is a
            # floor for noticing, so the bot asks instead of raising the alarm or staying quiet.
            result.safety_check, result.check_kind = True, result.urgent_reasons[0]
            result.urgent_reasons = []
        elif learned.urgent and not result.urgent_reasons:
            result.urgent_reasons = [learned.reason or "learned"]
        elif learned.unsure and not result.urgent_reasons:
            result.safety_check = True
            result.check_kind = learned.reason
    result.urgent = bool(result.urgent_reasons)
    result.complex_reasons = [r for r, pats in _COMPLEX.items() if any(p.search(normalized) for p in pats)]
    if any(a > amount_limit for a in result.amounts):
        result.complex_reasons.append("amount_above_limit")
    return result
