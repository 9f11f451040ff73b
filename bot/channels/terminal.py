"""`legalbot chat`: talk to the bot in a terminal. Buttons are numbered; type the number to press one."""

from __future__ import annotations

import getpass
import uuid

import typer

from bot.engine import Engine, Incoming
from bot.store import Message

SENDER_LABEL = {"bot": "助手", "system": "系统", "lawyer": "律师"}


def show(messages: list[Message]) -> list[dict[str, str]]:
    buttons: list[dict[str, str]] = []
    for m in messages:
        typer.secho(f"[{SENDER_LABEL.get(m.sender, m.sender)}] ", fg=typer.colors.CYAN, nl=False)
        typer.echo(m.text)
        for b in m.buttons:
            buttons.append(b)
            typer.secho(f"   {len(buttons)}) {b['label']}", fg=typer.colors.YELLOW)
    return buttons


def run(engine: Engine, user_id: str | None = None, language: str | None = None) -> None:
    user_id = user_id or f"{getpass.getuser()}-{uuid.uuid4().hex[:8]}"
    typer.echo("输入问题后回车；输入按钮编号来点击；Ctrl-D 退出。")
    buttons: list[dict[str, str]] = []
    while True:
        try:
            line = input("> ")
        except (EOFError, KeyboardInterrupt):
            typer.echo("")
            return
        stripped = line.strip()
        if stripped.isdigit() and 1 <= int(stripped) <= len(buttons):
            incoming = Incoming(channel="terminal", user_id=user_id, payload=buttons[int(stripped) - 1]["payload"],
                                language=language)
        else:
            incoming = Incoming(channel="terminal", user_id=user_id, text=line, language=language)
        buttons = show(engine.handle(incoming).messages)
