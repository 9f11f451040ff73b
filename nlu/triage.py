"""Urgency and complexity triage. Urgency overrides everything else the bot would do.

A first, rule-based version: patterns for danger that must never be missed, each with a reason
that tells the lawyer why the chat jumped the queue.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from nlu.text import normalize

#: reason -> patterns. Reasons decide which emergency numbers come first in the reply.
URGENT_PATTERNS: dict[str, list[str]] = {
    "domestic_violence": [
        r"家暴", r"家庭暴力", r"(老公|丈夫|老婆|妻子|男朋友|前夫|他|她)(又|一直|经常|天天|今天|刚才|刚刚)?(在)?(打|掐|踢|揍)(我|孩子)",
        r"被(老公|丈夫|男人|对象|家里人)打", r"domestic violence", r"(husband|boyfriend|partner) (hits|beats|beat|hit)",
    ],
    "threat_to_life": [
        r"要杀(了)?(我|他|她|你|人)", r"杀了(我|他|她)", r"砍(死|人|我)", r"(拿|持)(刀|枪).{0,6}(威胁|逼|追)",
        r"威胁.{0,8}(要命|弄死|杀)", r"弄死(我|你)", r"(kill|murder) (me|him|her)", r"threaten(ed|s)? to kill",
        r"有人(在)?追(砍|打)我",
    ],
    "self_harm": [
        r"自杀", r"不想活", r"活不下去", r"轻生", r"跳楼", r"割腕", r"(喝|吃)(了)?(农药|安眠药|老鼠药)",
        r"想死", r"suicide", r"kill myself", r"end my life",
    ],
    "child_in_danger": [
        r"(孩子|小孩|女儿|儿子).{0,6}(被打|被虐待|被拐|失踪|不见了|被性侵|被猥亵)", r"虐待(孩子|儿童|小孩)",
        r"(child|kid|son|daughter) (is )?(missing|abused|being abused)",
    ],
    "just_detained": [
        r"(刚|刚刚|刚才|今天|昨天|昨晚|今早|今晚)(被)?(抓|带走|拘留|刑拘|逮捕)", r"被(警察|公安|派出所)(抓|带走)",
        r"(刚|刚刚)?被刑事拘留", r"(was|been|got) (arrested|detained)",
    ],
    "imminent_deadline": [
        r"(明天|后天|今天|这周|本周|下周[一二三四五六日天]?|[一二三两四五六七八九十\d]+天(后|内|之内))(就)?(要)?(开庭|上诉期|截止|到期|过期|判决|宣判|仲裁开庭)",
        r"(开庭|上诉期|举证期限).{0,6}(明天|后天|今天|就剩|只剩|还剩)",
        r"(hearing|deadline|trial) (is )?(tomorrow|today|in \d+ days)",
    ],
    "wage_crowd": [
        r"(好多|很多|几十|上百|一群|一帮)(个)?(工人|农民工|人).{0,10}(堵|围|聚集|闹|讨薪|要工资)",
        r"(堵|围)(了)?(公司|工地|大门|门口).{0,6}(讨薪|要工资|要钱)",
        r"(要|准备)(去)?(跳楼|堵路|拉横幅)(讨薪|要工资)",
    ],
    "eviction_today": [
        r"(今天|现在|马上|正在|明天).{0,6}(强拆|强制拆|赶出|撵出|扔出|断水断电|换锁)",
        r"(房东|开发商|拆迁队).{0,8}(正在|现在|马上).{0,6}(拆|赶|撵|换锁)",
        r"(being )?evicted today",
    ],
}

_COMPILED = {reason: [re.compile(p) for p in pats] for reason, pats in URGENT_PATTERNS.items()}

# Words that make a danger pattern a question about law rather than an emergency.
_HYPOTHETICAL = re.compile(r"(冷静期|如果|假如|万一|以前|多年前|去年|什么是|怎么认定|如何认定|是否属于|算不算)")

COMPLEX_PATTERNS: dict[str, list[str]] = {
    "proceedings_under_way": [
        r"(已经|已|正在|在)(起诉|立案|开庭|审理|上诉|仲裁|申请仲裁|打官司)", r"(一审|二审|再审)(判决|判了|开庭|中)",
        r"法院(判了|判决|传票|立案了)", r"(收到|接到)(了)?(法院)?(传票|起诉状|判决书|仲裁通知)",
        r"(lawsuit|case) (is )?(pending|filed|under way)", r"court (hearing|summons)",
    ],
    "asks_for_lawyer": [
        r"(找|请|要|联系|需要)(个|一个|一位)?(真人)?律师(帮|代理|打官司|聊|谈)", r"律师(代理|帮我打)",
        r"(talk|speak) to a (real )?lawyer",
    ],
}
_COMPLEX = {reason: [re.compile(p) for p in pats] for reason, pats in COMPLEX_PATTERNS.items()}

_AMOUNT = re.compile(r"(\d+(?:\.\d+)?)\s*(亿|千万|百万|万|千|元|块)")
_CN_AMOUNT = re.compile(r"([一二两三四五六七八九十百千]+)\s*(亿|万)")
_CN_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_UNIT = {"亿": 100_000_000, "千万": 10_000_000, "百万": 1_000_000, "万": 10_000, "千": 1_000, "元": 1, "块": 1}


@dataclass
class Triage:
    urgent: bool = False
    urgent_reasons: list[str] = field(default_factory=list)
    complex_reasons: list[str] = field(default_factory=list)
    amounts: list[int] = field(default_factory=list)

    @property
    def complex(self) -> bool:
        return bool(self.complex_reasons)


def _chinese_number(text: str) -> int:
    total, current = 0, 0
    for ch in text:
        if ch in _CN_DIGITS:
            current = _CN_DIGITS[ch]
        elif ch == "十":
            total += (current or 1) * 10
            current = 0
        elif ch == "百":
            total += (current or 1) * 100
            current = 0
        elif ch == "千":
            total += (current or 1) * 1000
            current = 0
    return total + current


def amounts_in(text: str) -> list[int]:
    """Amounts of money in yuan mentioned in the text ("3万", "5000元", "两万")."""
    found = []
    for number, unit in _AMOUNT.findall(text):
        found.append(int(float(number) * _UNIT[unit]))
    for number, unit in _CN_AMOUNT.findall(text):
        found.append(_chinese_number(number) * _UNIT[unit])
    return found


def urgency_reasons(text: str) -> list[str]:
    normalized = normalize(text)
    reasons = [r for r, pats in _COMPILED.items() if any(p.search(normalized) for p in pats)]
    if reasons and _HYPOTHETICAL.search(normalized) and "self_harm" not in reasons:
        return []
    return reasons


def triage(text: str, amount_limit: int) -> Triage:
    normalized = normalize(text)
    result = Triage(urgent_reasons=urgency_reasons(normalized), amounts=amounts_in(normalized))
    result.urgent = bool(result.urgent_reasons)
    result.complex_reasons = [r for r, pats in _COMPLEX.items() if any(p.search(normalized) for p in pats)]
    if any(a > amount_limit for a in result.amounts):
        result.complex_reasons.append("amount_above_limit")
    return result
