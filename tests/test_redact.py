"""Application logs never contain ID card, phone or bank card numbers."""

from __future__ import annotations

import io
import logging

import pytest

from bot.redact import RedactingFilter, redact

SECRETS = ["11010519491231002X", "13812345678", "+86 138-1234-5678", "6222021234567890123", "6222 0212 3456 7890"]


@pytest.mark.parametrize("secret", SECRETS)
def test_redact_masks_personal_numbers(secret: str) -> None:
    cleaned = redact(f"我的号码是{secret}，请联系")
    assert secret not in cleaned
    assert "[" in cleaned


def test_redact_keeps_ordinary_numbers() -> None:
    text = "欠薪3个月，共20000元，2024年5月1日，第30条，12348，模型 20261127-135845-94d39e26"
    assert redact(text) == text


def test_logging_filter_redacts_arguments_and_exceptions() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("legalbot.test.redact")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("citizen wrote %s", "身份证11010519491231002X 电话13812345678")
        try:
            raise ValueError("card 6222021234567890123")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    for secret in ("11010519491231002X", "13812345678", "6222021234567890123"):
        assert secret not in output
    assert "[ID]" in output and "[PHONE]" in output and "[CARD]" in output


def test_engine_logs_no_personal_numbers_when_processing_fails(runtime, chat, monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    from bot import redact as redact_module

    def broken(text: str) -> None:
        raise RuntimeError(f"cannot parse {text}")

    monkeypatch.setattr(runtime.engine.classifier, "classify", broken)
    caplog.handler.addFilter(redact_module.RedactingFilter())
    with caplog.at_level(logging.INFO):
        chat.say("我的身份证是11010519491231002X，电话13812345678，工资被拖欠")
    assert "11010519491231002X" not in caplog.text and "13812345678" not in caplog.text
