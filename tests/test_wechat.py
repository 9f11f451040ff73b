"""The WeChat Official Account channel, end to end: WeChat's side is played by signed (and in safe mode
encrypted) pushes through the app, and the WeChat API by a fake server on 127.0.0.1 that wechatpy's own
client talks to. Nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import xmltodict
from fastapi.testclient import TestClient
from sqlmodel import col, select
from wechatpy.crypto import PrpCrypto, WeChatCrypto

from bot.app import create_app
from bot.channels.wechat import MESSAGE_QUOTA, TEXT_LIMIT, WeChatChannel, reply_window, split_text
from bot.channels.wechat import channel as wechat_channel_module
from bot.delivery import MAX_ATTEMPTS, DeliveryError, deliver_pending
from bot.engine import Incoming, Reply
from bot.runtime import Runtime
from bot.settings import Settings
from bot.store import Citizen, HandoffTicket, Lawyer, Message, utcnow
from handoff.auth import create_lawyer
from tests.fakes.wechat_api import FakeWeChatAPI
from tests.waiting import wait_until

TOKEN = "legalbot-wechat-test-token"
ACCOUNT = "gh_0123456789ab"  # the official account's original id (ToUserName)
AES_KEY = base64.b64encode(hashlib.sha256(b"legalbot test key").digest()).decode().rstrip("=")
QUESTION = "老板拖欠工资三个月了"
ASK_LAWYER = "我想找律师帮我打官司"
_msg_ids = itertools.count(int(time.time()) * 1000)


def sign(*parts: str) -> str:
    """WeChat's signature, computed independently of the code under test."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


# ---- WeChat's side ---------------------------------------------------------------------------------


@dataclass
class WeChatServer:
    """Signs (and in safe mode encrypts) pushes to the webhook the way WeChat's servers do."""

    http: TestClient
    channel: WeChatChannel
    crypto: WeChatCrypto | None = None

    def push(self, xml: str, *, timestamp: int | None = None, signature: str | None = None,
             content: bytes | None = None) -> httpx.Response:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        nonce = secrets.token_hex(5)
        params = {"signature": signature or sign(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce}
        body = xml
        if self.crypto is not None:
            sealed = xmltodict.parse(self.crypto.encrypt_message(xml, nonce, ts))["xml"]
            body = (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
                    f"<Encrypt><![CDATA[{sealed['Encrypt']}]]></Encrypt></xml>")
            params |= {"encrypt_type": "aes", "msg_signature": sealed["MsgSignature"]}
        return self.http.post("/webhooks/wechat", params=params, content=body.encode() if content is None else content,
                              headers={"content-type": "text/xml"})

    def follower(self) -> Follower:
        return Follower(self, "o" + uuid.uuid4().hex[:27])


@dataclass
class Follower:
    """A citizen following the account; ``say`` returns the webhook's HTTP response."""

    server: WeChatServer
    openid: str
    last_msg_id: int = 0
    replies: list[str] = field(default_factory=list)

    def _xml(self, msg_type: str, fields: str, msg_id: int | None = None, later: int = 0) -> str:
        tail = f"<MsgId>{msg_id}</MsgId>" if msg_id is not None else ""
        return (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{self.openid}]]>"
                f"</FromUserName><CreateTime>{int(time.time()) + later}</CreateTime><MsgType><![CDATA[{msg_type}]]>"
                f"</MsgType>{fields}{tail}</xml>")

    def _message(self, msg_type: str, fields: str, msg_id: int | None = None) -> httpx.Response:
        self.last_msg_id = msg_id if msg_id is not None else next(_msg_ids)
        return self.server.push(self._xml(msg_type, fields, self.last_msg_id))

    def say(self, text: str, msg_id: int | None = None) -> httpx.Response:
        return self._message("text", f"<Content><![CDATA[{text}]]></Content>", msg_id)

    def send_image(self) -> httpx.Response:
        return self._message("image", "<PicUrl><![CDATA[http://example.invalid/p.jpg]]></PicUrl>"
                                      "<MediaId><![CDATA[media-1]]></MediaId>")

    def send_voice(self, recognised: str) -> httpx.Response:
        return self._message("voice", "<MediaId><![CDATA[media-2]]></MediaId><Format><![CDATA[amr]]></Format>"
                                      f"<Recognition><![CDATA[{recognised}]]></Recognition>")

    def share_location(self, lat: float, lon: float, label: str = "某路某号") -> httpx.Response:
        return self._message("location", f"<Location_X>{lat}</Location_X><Location_Y>{lon}</Location_Y>"
                                         f"<Scale>15</Scale><Label><![CDATA[{label}]]></Label>")

    def event(self, event: str, key: str | None = None, later: int = 0) -> httpx.Response:
        """Events carry no MsgId; WeChat's retries are told apart by sender, CreateTime and event."""
        fields = f"<Event><![CDATA[{event}]]></Event>"
        if key is not None:
            fields += f"<EventKey><![CDATA[{key}]]></EventKey>"
        return self.server.push(self._xml("event", fields, later=later))

    def text_of(self, response: httpx.Response) -> str:
        """The passive reply's text ("" for "success"), decrypted in safe mode."""
        assert response.status_code == 200, response.text
        if response.text == "success":
            return ""
        xml = response.text
        if self.server.crypto is not None:
            outer = xmltodict.parse(xml)["xml"]
            assert set(outer) == {"Encrypt", "MsgSignature", "TimeStamp", "Nonce"}
            xml = self.server.crypto.decrypt_message(xml, outer["MsgSignature"], outer["TimeStamp"], outer["Nonce"])
        reply = xmltodict.parse(xml)["xml"]
        assert reply["MsgType"] == "text" and reply["ToUserName"] == self.openid and reply["FromUserName"] == ACCOUNT
        self.replies.append(reply["Content"])
        return str(reply["Content"])


# ---- fixtures --------------------------------------------------------------------------------------


@pytest.fixture
def settings(built_dir: Path, database_url: str, api: FakeWeChatAPI) -> Settings:
    """The shared settings plus a WeChat account whose API is the fake server."""
    return Settings(data_dir=built_dir, database_url=database_url, wechat_token=TOKEN, wechat_aes_key=None,
                    wechat_app_id=api.app_id, wechat_app_secret=api.app_secret, wechat_api_base=api.base_url)


def _serve(runtime: Runtime, aes_key: str | None) -> Iterator[WeChatServer]:
    runtime.settings.wechat_aes_key = aes_key
    runtime.engine.decide(QUESTION)  # load the models now, not inside a 4-second reply
    channel = WeChatChannel(runtime)
    with TestClient(create_app(runtime, run_sweeper=False, channels=[channel])) as http:
        yield WeChatServer(http, channel, channel.crypto)


@pytest.fixture
def wechat(runtime: Runtime) -> Iterator[WeChatServer]:
    yield from _serve(runtime, None)


@pytest.fixture
def safe_wechat(runtime: Runtime) -> Iterator[WeChatServer]:
    yield from _serve(runtime, AES_KEY)


def stored(runtime: Runtime, openid: str) -> list[Message]:
    with runtime.store.session() as session:
        citizen = session.exec(select(Citizen).where(Citizen.channel_user_id == openid)).first()
        if citizen is None:
            return []
        return list(session.exec(select(Message).where(Message.citizen_id == citizen.id).order_by(col(Message.id))))


def citizen_of(runtime: Runtime, openid: str) -> Citizen:
    with runtime.store.session() as session:
        citizen = session.exec(select(Citizen).where(Citizen.channel_user_id == openid)).first()
        assert citizen is not None
        return citizen


def relay(runtime: Runtime, channel: WeChatChannel) -> int:
    """One pass of the relay (the app runs its own every second too; both are safe together)."""
    return asyncio.run(deliver_pending(runtime.store, {"wechat": channel}))


def eventually(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    return wait_until(check, timeout=timeout)


def sent_to(api: FakeWeChatAPI, openid: str) -> list[str]:
    return [m["text"]["content"] for m in api.sent if m["touser"] == openid]


def age(runtime: Runtime, openid: str, hours: float) -> None:
    """Move the citizen's history back in time, as if they had last written ``hours`` ago."""
    with runtime.store.session() as session:
        citizen = session.exec(select(Citizen).where(Citizen.channel_user_id == openid)).one()
        assert citizen.last_inbound_at is not None
        citizen.last_inbound_at -= timedelta(hours=hours)
        session.add(citizen)
        for message in session.exec(select(Message).where(Message.citizen_id == citizen.id)):
            message.created_at -= timedelta(hours=hours)
            session.add(message)
        session.commit()


@dataclass
class OnDuty:
    """A lawyer who has claimed the (only) waiting ticket."""

    runtime: Runtime
    lawyer: Lawyer
    ticket_id: int

    def reply(self, text: str) -> Message:
        return self.runtime.queue.reply(self.ticket_id, self.lawyer, text)


def lawyer_claims(runtime: Runtime) -> OnDuty:
    lawyer = create_lawyer(runtime.store, f"lawyer{uuid.uuid4().hex[:6]}", "correct horse", display_name="张律师")
    [view] = runtime.queue.tickets()
    assert view.ticket.id is not None
    runtime.queue.claim(view.ticket.id, lawyer)
    return OnDuty(runtime, lawyer, view.ticket.id)


def reload(runtime: Runtime, message: Message) -> Message:
    with runtime.store.session() as session:
        fresh = session.get(Message, message.id)
        assert fresh is not None
        return fresh


# ---- URL verification ------------------------------------------------------------------------------


def test_url_verification_echoes_the_echostr(wechat: WeChatServer) -> None:
    ts, nonce = str(int(time.time())), "n0nce"
    query = {"signature": sign(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce, "echostr": "4376235"}
    answer = wechat.http.get("/webhooks/wechat", params=query)
    assert answer.status_code == 200 and answer.text == "4376235"
    assert wechat.http.get("/webhooks/wechat", params=query | {"signature": "0" * 40}).status_code == 403
    old = str(int(time.time()) - 3600)
    stale = {"signature": sign(TOKEN, old, nonce), "timestamp": old, "nonce": nonce, "echostr": "1"}
    assert wechat.http.get("/webhooks/wechat", params=stale).status_code == 403
    assert wechat.http.get("/webhooks/wechat", params={"echostr": "1"}).status_code == 403


def test_url_verification_in_safe_mode(safe_wechat: WeChatServer) -> None:
    ts, nonce = str(int(time.time())), "n0nce"
    plain = {"signature": sign(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce, "echostr": "8641"}
    assert safe_wechat.http.get("/webhooks/wechat", params=plain).text == "8641"
    assert safe_wechat.crypto is not None
    sealed = PrpCrypto(safe_wechat.crypto.key).encrypt("echo-1234", safe_wechat.crypto.app_id).decode()
    encrypted = plain | {"echostr": sealed, "msg_signature": sign(TOKEN, ts, nonce, sealed)}
    answer = safe_wechat.http.get("/webhooks/wechat", params=encrypted)
    assert answer.status_code == 200 and answer.text == "echo-1234"
    forged = encrypted | {"msg_signature": sign(TOKEN, ts, nonce, "something else")}
    assert safe_wechat.http.get("/webhooks/wechat", params=forged).status_code == 403


# ---- passive replies -------------------------------------------------------------------------------


def test_a_question_gets_exactly_one_passive_reply(runtime: Runtime, wechat: WeChatServer,
                                                   api: FakeWeChatAPI) -> None:
    alice = wechat.follower()
    reply = alice.text_of(alice.say(QUESTION))
    assert "我不是律师" in reply and "110" in reply  # the disclaimer on first contact
    assert "法律依据" in reply and "回复 1 有帮助" in reply and "回复 3 转接律师" in reply
    assert len(reply.encode()) <= TEXT_LIMIT
    relay(runtime, wechat.channel)
    assert sent_to(api, alice.openid) == []  # nothing goes out a second time as a customer-service message
    messages = stored(runtime, alice.openid)
    assert [m.direction for m in messages][0] == "in" and messages[0].channel_message_id == str(alice.last_msg_id)
    assert all(m.delivered_at and (m.channel_message_id or "").startswith("passive:")
               for m in messages if m.direction == "out")


def test_safe_mode_decrypts_the_push_and_encrypts_the_reply(runtime: Runtime, safe_wechat: WeChatServer,
                                                            api: FakeWeChatAPI) -> None:
    bob = safe_wechat.follower()
    response = bob.say(QUESTION)
    assert "<Encrypt>" in response.text and "法律依据" not in response.text
    assert "法律依据" in bob.text_of(response)
    relay(runtime, safe_wechat.channel)
    assert sent_to(api, bob.openid) == []
    assert stored(runtime, bob.openid)[0].text == QUESTION


def test_a_redelivered_msgid_is_answered_once(runtime: Runtime, wechat: WeChatServer, api: FakeWeChatAPI) -> None:
    alice = wechat.follower()
    first = alice.say(QUESTION)
    again = alice.say(QUESTION, msg_id=alice.last_msg_id)
    assert "法律依据" in alice.text_of(first)
    assert again.status_code == 200 and again.text == "success"
    relay(runtime, wechat.channel)
    assert sent_to(api, alice.openid) == []
    assert [m.text for m in stored(runtime, alice.openid) if m.direction == "in"] == [QUESTION]


def test_a_retry_while_the_first_is_still_processing_gets_success(
        runtime: Runtime, wechat: WeChatServer, api: FakeWeChatAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    started, release = threading.Event(), threading.Event()
    handle = runtime.engine.handle

    def slow_handle(incoming: Incoming) -> Reply:
        started.set()
        release.wait(10)
        return handle(incoming)

    monkeypatch.setattr(runtime.engine, "handle", slow_handle)
    alice = wechat.follower()
    msg_id = next(_msg_ids)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(alice.say, QUESTION, msg_id)
        assert started.wait(10)
        retry = alice.say(QUESTION, msg_id=msg_id)
        assert retry.status_code == 200 and retry.text == "success"
        release.set()
        answer = alice.text_of(first.result(timeout=15))
    assert "法律依据" in answer
    relay(runtime, wechat.channel)
    assert sent_to(api, alice.openid) == []
    assert [m.text for m in stored(runtime, alice.openid) if m.direction == "in"] == [QUESTION]


# ---- refused requests ------------------------------------------------------------------------------


def test_a_forged_signature_is_refused_and_nothing_is_processed(runtime: Runtime, wechat: WeChatServer) -> None:
    mallory = wechat.follower()
    xml = mallory._xml("text", f"<Content><![CDATA[{QUESTION}]]></Content>", 1)
    assert wechat.push(xml, signature=sign("wrong-token", str(int(time.time())), "x")).status_code == 403
    no_query = wechat.http.post("/webhooks/wechat", content=xml.encode())
    assert no_query.status_code == 403
    assert stored(runtime, mallory.openid) == []


def test_a_forged_msg_signature_is_refused_in_safe_mode(runtime: Runtime, safe_wechat: WeChatServer) -> None:
    mallory = safe_wechat.follower()
    ts, nonce = str(int(time.time())), "abc"
    body = f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><Encrypt><![CDATA[AAAA]]></Encrypt></xml>"
    params = {"signature": sign(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce, "encrypt_type": "aes",
              "msg_signature": sign(TOKEN, ts, nonce, "BBBB")}
    assert safe_wechat.http.post("/webhooks/wechat", params=params, content=body.encode()).status_code == 403
    plaintext = mallory._xml("text", "<Content><![CDATA[hi]]></Content>", 2)  # safe mode takes no plaintext
    params = {"signature": sign(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce}
    assert safe_wechat.http.post("/webhooks/wechat", params=params, content=plaintext.encode()).status_code == 403
    assert stored(runtime, mallory.openid) == []


@pytest.mark.parametrize("shift", [-600, 600])
def test_a_replayed_or_future_timestamp_is_refused(runtime: Runtime, wechat: WeChatServer, shift: int) -> None:
    eve = wechat.follower()
    xml = eve._xml("text", f"<Content><![CDATA[{QUESTION}]]></Content>", 7)
    assert wechat.push(xml, timestamp=int(time.time()) + shift).status_code == 403
    assert stored(runtime, eve.openid) == []


MALFORMED = [
    b"not xml at all",
    b"<xml><ToUserName>gh</ToUserName>",
    b"<xml></xml>",
    b"<other><MsgType>text</MsgType></other>",
    b"<xml><MsgType>text</MsgType><Content>no sender</Content></xml>",
    b"<xml><FromUserName><a>b</a></FromUserName><MsgType>text</MsgType><MsgId>1</MsgId></xml>",
    b"<xml><FromUserName>o1</FromUserName><MsgType>text</MsgType><MsgId>not-a-number</MsgId></xml>",
    b"<xml><FromUserName>o1</FromUserName><MsgType>location</MsgType><Location_X>north</Location_X></xml>",
    b"<!DOCTYPE x [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;&a;&a;\">]><xml><FromUserName>&b;</FromUserName></xml>",
    b"\xff\xfe<xml/>",
]


def test_malformed_xml_is_a_400(runtime: Runtime, wechat: WeChatServer) -> None:
    for body in MALFORMED:
        assert wechat.push("", content=body).status_code == 400, body
    with runtime.store.session() as session:
        assert session.exec(select(Message)).first() is None


def test_an_oversized_body_is_a_413(wechat: WeChatServer) -> None:
    big = ("<xml><Content><![CDATA[" + "字" * 60_000 + "]]></Content></xml>").encode()
    assert wechat.push("", content=big).status_code == 413
    chunked = wechat.push("", content=iter([b"<xml>" + b" " * 10_000] * 20))  # no Content-Length
    assert chunked.status_code == 413


# ---- the five-second rule --------------------------------------------------------------------------


def test_a_slow_answer_goes_out_as_customer_service_messages(
        runtime: Runtime, wechat: WeChatServer, api: FakeWeChatAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    handle = runtime.engine.handle
    engine_may_finish = threading.Event()

    def slow_handle(incoming: Incoming) -> Reply:
        assert engine_may_finish.wait(10), "the test never let the engine finish"
        return handle(incoming)

    monkeypatch.setattr(runtime.engine, "handle", slow_handle)
    monkeypatch.setattr(wechat.channel, "passive_timeout", 0.2)
    alice = wechat.follower()
    began = time.monotonic()
    assert alice.say(QUESTION).text == "success"  # the engine is held until now: answered before it was done
    assert time.monotonic() - began < 4  # well inside WeChat's five seconds
    engine_may_finish.set()
    texts = eventually(lambda: len(sent_to(api, alice.openid)) >= 2 and sent_to(api, alice.openid))  # app's relay
    assert "我不是律师" in texts[0] and "法律依据" in texts[1] and "回复 1 有帮助" in texts[1]
    assert len(texts) == 2
    out = [m for m in stored(runtime, alice.openid) if m.direction == "out"]
    eventually(lambda: all(reload(runtime, m).delivered_at for m in out))
    assert {reload(runtime, m).channel_message_id for m in out} == {"kf:1"}
    expires_at, remaining = reply_window(runtime.store, citizen_of(runtime, alice.openid))
    assert remaining == MESSAGE_QUOTA - 2
    assert expires_at is not None and timedelta(hours=47) < expires_at - utcnow() <= timedelta(hours=48)

    monkeypatch.setattr(runtime.engine, "handle", handle)
    monkeypatch.setattr(wechat.channel, "passive_timeout", 4.0)
    # The menu was sent as a customer-service message; its number still presses the button.
    assert "很高兴" in alice.text_of(alice.say("1"))
    pressed = stored(runtime, alice.openid)[-2]
    assert (pressed.kind, pressed.text, pressed.decision) == ("button", "有帮助", {"payload": "/helpful"})
    assert len(sent_to(api, alice.openid)) == 2


def test_the_relay_racing_a_passive_reply_never_sends_twice(
        runtime: Runtime, wechat: WeChatServer, api: FakeWeChatAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    claim_passive = wechat_channel_module.claim_passive

    def relay_gets_there_first(store: Any, ids: list[int], marker: str) -> set[int]:
        relay(runtime, wechat.channel)  # another worker's relay, between the engine's commit and the claim
        return claim_passive(store, ids, marker)

    monkeypatch.setattr(wechat.channel, "passive_timeout", 0.5)
    monkeypatch.setattr(wechat_channel_module, "claim_passive", relay_gets_there_first)
    alice = wechat.follower()
    passive = alice.text_of(alice.say(QUESTION))
    eventually(lambda: all(m.delivered_at for m in stored(runtime, alice.openid) if m.direction == "out"))
    relay(runtime, wechat.channel)
    # Each message went out once, in order: some as customer-service messages, the rest passively.
    received = sent_to(api, alice.openid) + ([passive] if passive else [])
    assert [("我不是律师" in text, "法律依据" in text) for text in received] == [(True, False), (False, True)]


def test_two_workers_relaying_at_once_send_a_message_once(runtime: Runtime, wechat: WeChatServer,
                                                          api: FakeWeChatAPI) -> None:
    ivy = wechat.follower()
    ivy.text_of(ivy.say(ASK_LAWYER))
    reply = lawyer_claims(runtime).reply("您好，我是张律师")
    other_worker = WeChatChannel(runtime)

    async def both() -> None:
        await asyncio.gather(deliver_pending(runtime.store, {"wechat": wechat.channel}),
                             deliver_pending(runtime.store, {"wechat": other_worker}))

    asyncio.run(both())
    # The app's own relay is a third worker: when it took the message first, these two leave it to it.
    eventually(lambda: reload(runtime, reply).delivered_at is not None)
    assert sent_to(api, ivy.openid).count("【律师】您好，我是张律师") == 1


# ---- events and menus ------------------------------------------------------------------------------


def test_subscribing_shows_welcome_disclaimer_and_menu(runtime: Runtime, wechat: WeChatServer) -> None:
    carol = wechat.follower()
    welcome = carol.text_of(carol.event("subscribe"))
    assert "我不是律师" in welcome and "隐私" in welcome
    assert "请直接说说您遇到的法律问题" in welcome and "回复 1 劳动争议" in welcome
    assert "请继续说说您的情况" in carol.text_of(carol.say("1"))
    messages = stored(runtime, carol.openid)
    assert messages[0].kind == "event" and messages[0].text == "subscribe"
    assert [m.text for m in messages if m.direction == "in"][-1] == "劳动争议"  # the label of the button, not "1"
    again = carol.text_of(carol.event("subscribe", later=1))
    assert "回复 1 劳动争议" in again and "我不是律师" not in again  # the notice is shown once
    assert carol.event("VIEW", "https://example.invalid/").text == "success"


def test_a_number_presses_a_button_only_while_its_menu_is_open(runtime: Runtime, wechat: WeChatServer) -> None:
    dave = wechat.follower()
    dave.text_of(dave.say(QUESTION))
    assert "很高兴" in dave.text_of(dave.say("１"))  # a full-width digit is the same number
    assert "1" not in [m.text for m in stored(runtime, dave.openid) if m.direction == "in"]
    dave.text_of(dave.say("1"))  # no menu open now: it is just text
    assert [m.text for m in stored(runtime, dave.openid) if m.direction == "in"][-1] == "1"


def test_a_menu_click_is_a_button_payload(runtime: Runtime, wechat: WeChatServer) -> None:
    erin = wechat.follower()
    reply = erin.text_of(erin.event("CLICK", "/lawyer"))
    assert "已为您转接律师" in reply and "回复 1 取消转接" in reply
    click = [m for m in stored(runtime, erin.openid) if m.direction == "in"][-1]
    # still an event (it opens only the short reply window), read as the button's label
    assert (click.kind, click.text, click.decision) == ("event", "转接律师", {"payload": "/lawyer"})
    with runtime.store.session() as session:
        assert session.exec(select(HandoffTicket)).first() is not None
    assert "已为您取消转接" in erin.text_of(erin.say("1"))


def test_a_click_on_the_services_menu_is_the_same_payload(runtime: Runtime, wechat: WeChatServer) -> None:
    from bot.channels.wechat.menu import clicks

    grace = wechat.follower()
    assert clicks()[-1] == "/mine"
    assert "暂无记录" in grace.text_of(grace.event("CLICK", "/mine"))
    guide = grace.text_of(grace.event("CLICK", "/legal_aid", later=1))
    assert "法律援助" in guide and "回复 1 现在申请：法律援助申请" in guide
    click = [m for m in stored(runtime, grace.openid) if m.direction == "in"][-1]
    assert (click.kind, click.text, click.decision) == ("event", "法律援助", {"payload": "/legal_aid"})
    assert "开始填写法律援助申请" in grace.text_of(grace.say("1"))  # the numbered button starts the form


def documented_menu() -> dict[str, Any]:
    doc = (Path(__file__).resolve().parent.parent / "docs" / "deploy" / "wechat.md").read_text(encoding="utf-8")
    return dict(json.loads(doc.split("```json", 1)[1].split("```", 1)[0]))


def test_every_key_of_the_documented_menu_gets_an_answer(wechat: WeChatServer) -> None:
    from bot.channels.wechat import menu

    assert documented_menu() == menu.menu()  # the docs show what `legalbot wechat menu` publishes
    items = [sub for item in documented_menu()["button"] for sub in item.get("sub_button", [item])]
    clicks = [item["key"] for item in items if item["type"] == "click"]
    assert "/lawyer" in clicks and len(clicks) >= 5
    for key in clicks:
        citizen = wechat.follower()
        answer = citizen.text_of(citizen.event("CLICK", key))
        assert answer and "没有输入文字" not in answer, key
    assert wechat.follower().event("location_select", "nearest_centre").text == "success"  # the location follows


def test_a_shared_location_gets_the_nearest_service_centre(runtime: Runtime, wechat: WeChatServer) -> None:
    frank = wechat.follower()
    reply = frank.text_of(frank.share_location(30.2905, 120.1210))
    assert "示例街道公共法律服务工作站" in reply and "公里" in reply  # the example city's street centre nearby
    assert frank.event("LOCATION").text == "success"  # auto-reported locations are not answered
    inbound = [m for m in stored(runtime, frank.openid) if m.direction == "in"]
    assert [m.kind for m in inbound] == ["location"]


def test_media_get_a_sensible_reply_and_recognised_voice_is_read(wechat: WeChatServer) -> None:
    gina = wechat.follower()
    assert "只能看懂文字" in gina.text_of(gina.send_image())
    assert "法律依据" in gina.text_of(gina.send_voice(QUESTION))


# ---- the customer-service window ---------------------------------------------------------------------


def test_a_lawyer_reply_outside_the_window_fails_loudly(runtime: Runtime, wechat: WeChatServer,
                                                        api: FakeWeChatAPI) -> None:
    henry = wechat.follower()
    assert "已为您转接律师" in henry.text_of(henry.say(ASK_LAWYER))
    age(runtime, henry.openid, hours=49)
    expires_at, remaining = reply_window(runtime.store, citizen_of(runtime, henry.openid))
    assert expires_at is not None and expires_at < utcnow() and remaining == 0
    reply = lawyer_claims(runtime).reply("您好，我是张律师，请问欠薪多少？")
    with pytest.raises(DeliveryError) as refused:
        asyncio.run(wechat.channel.send(henry.openid, reply))
    assert refused.value.retryable is False and "48" in refused.value.reason
    relay(runtime, wechat.channel)
    failed = eventually(lambda: (m := reload(runtime, reply)).delivery_error and m)
    assert failed.delivered_at is None and failed.delivery_attempts == MAX_ATTEMPTS
    assert failed.delivery_error.startswith("wechat_window_closed")
    assert sent_to(api, henry.openid) == []


def test_wechat_refusals_are_recorded_and_busy_is_retried(runtime: Runtime, wechat: WeChatServer,
                                                          api: FakeWeChatAPI) -> None:
    ivy = wechat.follower()
    ivy.text_of(ivy.say(ASK_LAWYER))
    api.fail_next(-1, "system error", match="已接入")
    api.fail_next(0, "too many requests", http_status=429, match="已接入")
    api.fail_next(45047, "out of response count limit", match="我是张律师")
    reply = lawyer_claims(runtime).reply("您好，我是张律师")  # the claim adds "律师已接入" before it
    relay(runtime, wechat.channel)
    refused = eventually(lambda: (m := reload(runtime, reply)).delivery_error and m)
    assert refused.delivery_error.startswith("wechat_quota_used") and "45047" in refused.delivery_error
    assert refused.delivery_attempts == MAX_ATTEMPTS and refused.delivered_at is None
    joined = [m for m in stored(runtime, ivy.openid) if "已接入" in m.text][0]
    busy = eventually(lambda: (m := reload(runtime, joined)).delivered_at and m)
    assert busy.delivery_attempts == 3  # system busy, HTTP 429, then accepted
    assert sent_to(api, ivy.openid) == [joined.text]


def test_an_expired_access_token_is_fetched_again(runtime: Runtime, wechat: WeChatServer,
                                                 api: FakeWeChatAPI) -> None:
    jack = wechat.follower()
    jack.text_of(jack.say(ASK_LAWYER))
    on_duty = lawyer_claims(runtime)
    first = on_duty.reply("您好")
    eventually(lambda: reload(runtime, first).delivered_at)
    api.expire_tokens()
    second = on_duty.reply("还在吗？")
    eventually(lambda: reload(runtime, second).delivered_at)
    assert sent_to(api, jack.openid)[-1] == "【律师】还在吗？"
    assert api.token_fetches == 2


def test_a_long_reply_is_split_and_counted_against_the_window(runtime: Runtime, wechat: WeChatServer,
                                                             api: FakeWeChatAPI) -> None:
    kate = wechat.follower()
    kate.text_of(kate.say(ASK_LAWYER))
    long_text = "\n".join(f"第{i}条：" + "劳动合同" * 40 for i in range(12))
    reply = lawyer_claims(runtime).reply(long_text)
    parts = split_text("【律师】" + long_text)
    assert len(parts) > 1 and all(len(p.encode()) <= TEXT_LIMIT for p in parts)
    eventually(lambda: reload(runtime, reply).delivered_at)
    assert reload(runtime, reply).channel_message_id == f"kf:{len(parts)}"
    assert sent_to(api, kate.openid)[-len(parts):] == parts
    _, remaining = reply_window(runtime.store, citizen_of(runtime, kate.openid))
    assert remaining == MESSAGE_QUOTA - 1 - len(parts)  # "律师已接入" and the parts


def test_after_unsubscribing_nothing_more_is_sent(runtime: Runtime, wechat: WeChatServer,
                                                 api: FakeWeChatAPI) -> None:
    leo = wechat.follower()
    leo.text_of(leo.say(ASK_LAWYER))
    assert leo.event("unsubscribe").text == "success"
    assert reply_window(runtime.store, citizen_of(runtime, leo.openid)) == (None, 0)
    reply = lawyer_claims(runtime).reply("您好")
    relay(runtime, wechat.channel)
    failed = eventually(lambda: (m := reload(runtime, reply)).delivery_error and m)
    assert failed.delivery_error.startswith("wechat_unsubscribed")
    assert sent_to(api, leo.openid) == []
