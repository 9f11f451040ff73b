"""Text normalisation and segmentation shared by NLU and retrieval."""

from __future__ import annotations

import logging
import re
import unicodedata
from functools import lru_cache

import jieba

jieba.setLogLevel(logging.WARNING)

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u2028-\u202e\ufeff]")
_SPACE = re.compile(r"\s+")
_CJK = re.compile(r"[\u3400-\u9fff]")
_WORD = re.compile(r"[a-z0-9]+|[\u3400-\u9fff]")


def normalize(text: str) -> str:
    """NFKC (full-width to half-width), lower case, no control characters, single spaces."""
    text = unicodedata.normalize("NFKC", text)
    text = _CONTROL.sub(" ", _ANSI.sub(" ", text))
    return _SPACE.sub(" ", text).strip().lower()


def has_meaningful_text(text: str) -> bool:
    """True when the text has at least one letter, digit or CJK character (not only emoji/punctuation)."""
    return any(ch.isalnum() for ch in normalize(text))


#: Words that ask without saying what about: a message made only of these carries no legal point.
_GENERIC = re.compile(
    r"你好|您好|请问|问一下|问问|想问|我想|咨询|一下|有个|有一个|一个|问个|个事|这个|那个|这种|事情|事儿|事|问题|情况|"
    r"怎么办|怎么处理|怎么解决|如何处理|怎么弄|怎么|如何|该|应该|可以|能不能|能|吗|呢|啊|呀|吧|了|的|我|你|您|们|"
    r"帮忙|帮我|帮帮|看看|法律|律师|"
    r"\b(?:hi|hello|please|help|question|questions|legal|lawyer|what|should|can|could|do|i|a|an|the|have|has|"
    r"my|me|you|about|some|advice|ask|want|to|need|is|it|this|that)\b"
)


def content_chars(text: str) -> int:
    """How many letters and CJK characters remain once the words that only ask are taken out."""
    return sum(ch.isalnum() for ch in _GENERIC.sub("", normalize(text)))


@lru_cache(maxsize=4096)
def words(text: str) -> tuple[str, ...]:
    """jieba words of normalised text, without spaces and punctuation."""
    return tuple(w for w in jieba.lcut(normalize(text)) if w.strip() and any(ch.isalnum() for ch in w))


def chars(text: str) -> tuple[str, ...]:
    """Single CJK characters and ASCII words: robust to typos and unseen words."""
    return tuple(_WORD.findall(normalize(text)))


def tokens(text: str) -> list[str]:
    """Words plus characters: what both the lexical ranker and the project's encoder see."""
    ws = words(text)
    seen = set(ws)
    return list(ws) + [c for c in chars(text) if c not in seen]


def is_chinese(text: str) -> bool:
    return bool(_CJK.search(text))


def text_language(text: str) -> str:
    """"zh" for text with any Chinese in it, else "en": the language a reply to it is written in."""
    return "zh" if is_chinese(text) else "en"


_CN_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}


def chinese_numeral(text: str) -> int:
    """一千二百六十 -> 1260, 十五 -> 15, 两万 -> 20000 (article numbers, amounts); and as people say amounts,
    a last digit right after a unit is of the next unit down: 两万五 -> 25000, 三千五 -> 3500, 一百二 -> 120
    (but 一千零五 -> 1005)."""
    total, section, current, last_unit = 0, 0, 0, 1
    for ch in text:
        if ch in _CN_DIGITS:
            current = _CN_DIGITS[ch]
            if current == 0:
                last_unit = 1
        elif ch in _CN_UNITS:
            section += (current or 1) * _CN_UNITS[ch]
            current, last_unit = 0, _CN_UNITS[ch]
        elif ch == "万":
            total += (section + current) * 10000
            section, current, last_unit = 0, 0, 10000
    if current and last_unit > 10:
        current *= last_unit // 10
    return total + section + current
