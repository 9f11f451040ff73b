"""The Official Account's custom menu (自定义菜单), as data: the services menu of bot/actions.py, grouped
the way WeChat allows (at most 3 top-level buttons, 5 sub-buttons each). A CLICK button's key is the
payload itself, so a click reaches the engine exactly like a pressed button (request.py reads the event);
nothing here decides an answer. ``legalbot wechat menu`` publishes it with wechatpy's ``menu.create``.
"""

from __future__ import annotations

from typing import Any

from bot import actions
from bot.replies import t

#: WeChat's limits (公众号 自定义菜单 创建接口): names in bytes of UTF-8, keys too.
MAX_TOP, MAX_SUB = 3, 5
TOP_NAME_BYTES, SUB_NAME_BYTES, KEY_BYTES = 16, 60, 128


def _click(payload: str, label_key: str) -> dict[str, str]:
    return {"type": "click", "name": t(label_key, "zh"), "key": payload}


def menu() -> dict[str, Any]:
    """The menu in the shape ``menu/create`` takes: 法律服务 ▸ the four services and a lawyer, 办事指南, 我的咨询."""
    return {"button": [
        {"name": "法律服务", "sub_button": [
            *(_click(p, actions.MENU_LABELS[p]) for p in (actions.CONSULT, actions.LEGAL_AID, actions.MEDIATION,
                                                          actions.NOTARY)),
            _click(actions.LAWYER, "btn_lawyer"),
        ]},
        _click(actions.GUIDE, actions.MENU_LABELS[actions.GUIDE]),
        _click(actions.MINE, actions.MENU_LABELS[actions.MINE]),
    ]}


def clicks(data: dict[str, Any] | None = None) -> list[str]:
    """Every CLICK key of the menu, in order."""
    items = [sub for item in (data or menu())["button"] for sub in item.get("sub_button", [item])]
    return [item["key"] for item in items if item.get("type") == "click"]


def problems(data: dict[str, Any]) -> list[str]:
    """What WeChat would refuse in a menu (empty when it is fine)."""
    found = []
    top = data.get("button", [])
    if not 1 <= len(top) <= MAX_TOP:
        found.append(f"{len(top)} top-level buttons (1 to {MAX_TOP})")
    for item in top:
        name = str(item.get("name", ""))
        if not 0 < len(name.encode()) <= TOP_NAME_BYTES:
            found.append(f"top-level name {name!r}: 1 to {TOP_NAME_BYTES} bytes")
        subs = item.get("sub_button")
        if subs is not None and not 1 <= len(subs) <= MAX_SUB:
            found.append(f"{name}: {len(subs)} sub-buttons (1 to {MAX_SUB})")
        for sub in subs or []:
            sub_name = str(sub.get("name", ""))
            if not 0 < len(sub_name.encode()) <= SUB_NAME_BYTES:
                found.append(f"sub-button name {sub_name!r}: 1 to {SUB_NAME_BYTES} bytes")
        for leaf in subs or [item]:
            if leaf.get("type") in ("click", "location_select") and not 0 < len(str(leaf.get("key", "")).encode()) \
                    <= KEY_BYTES:
                found.append(f"{leaf.get('name')}: a key of 1 to {KEY_BYTES} bytes")
    return found


def publish(client: Any, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """Replace the account's menu (``client``: a wechatpy ``WeChatClient``); WeChatClientException if refused."""
    data = data or menu()
    wrong = problems(data)
    if wrong:
        raise ValueError("; ".join(wrong))
    client.menu.create(data)
    return data
