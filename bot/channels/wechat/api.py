"""The WeChat API client (customer-service messages, access tokens, citizens' images) and what its errors mean."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

import requests
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from bot.delivery import DeliveryError
from services import attachments

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


#: WeChat API errors after which sending the same message again cannot succeed, with what to do.
FATAL_API_ERRORS = {
    45015: "wechat_window_closed: 微信拒绝发送（45015）：距市民最后一条消息已超过48小时，需等市民再次留言",
    45047: "wechat_quota_used: 微信拒绝发送（45047）：客服消息条数已达上限，需等市民再次留言",
    43004: "wechat_unsubscribed: 微信拒绝发送（43004）：市民未关注或已取消关注公众号",
    40003: "wechat_bad_openid: 微信拒绝发送（40003）：OpenID 无效",
    48001: "wechat_no_permission: 微信拒绝发送（48001）：公众号没有客服消息接口权限，请在公众平台开通",
    40164: "wechat_ip_not_whitelisted: 微信拒绝调用（40164）：服务器出口IP不在公众号的IP白名单中",
}

#: Errors worth another try: system busy, rate limited, token expired or revoked meanwhile.
RETRYABLE_API_ERRORS = {-1, 45009, 40001, 40014, 42001}
#: The access token expired or was revoked: fetch a new one and ask again.
TOKEN_ERRORS = {40001, 40014, 42001}


class _TimeoutSession(requests.Session):
    """wechatpy fetches the access token without a timeout; give every request one."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.default_timeout = timeout

    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().request(method, url, *args, **kwargs)


class APIClient(WeChatClient):  # type: ignore[misc]
    """wechatpy's client against ``settings.wechat_api_base`` (its token URL is otherwise fixed)."""

    def __init__(self, app_id: str, app_secret: str, api_base: str, timeout: float = 10.0) -> None:
        super().__init__(app_id, app_secret, timeout=timeout)
        self.API_BASE_URL = api_base if api_base.endswith("/") else api_base + "/"
        self._http.close()
        self._http: requests.Session = _TimeoutSession(timeout)

    def close(self) -> None:
        self._http.close()

    def fetch_access_token(self) -> Any:
        return self._fetch_access_token(
            url=self.API_BASE_URL + "token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )

    def download_media(self, media_id: str, limit: int) -> bytes:
        """A citizen's image (临时素材, ``GET media/get``), read as it arrives and refused past ``limit`` bytes
        (``AttachmentError``); ``WeChatClientException`` when WeChat answers with an error instead."""
        for attempt in (1, 2):
            with self._http.get(self.API_BASE_URL + "media/get", stream=True,
                                params={"access_token": self.access_token, "media_id": media_id}) as response:
                response.raise_for_status()
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise attachments.AttachmentError(attachments.too_large(limit))
                content = bytearray()
                for chunk in response.iter_content(64 * 1024):
                    content += chunk
                    if len(content) > limit:
                        raise attachments.AttachmentError(attachments.too_large(limit))
                media_type = response.headers.get("content-type", "")
            if media_type.startswith(("application/json", "text/")) or content[:1] == b"{":
                try:
                    error = json.loads(content)
                except ValueError:
                    error = None
                if isinstance(error, dict) and error.get("errcode"):
                    if error["errcode"] in TOKEN_ERRORS and attempt == 1:
                        self.fetch_access_token()
                        continue
                    raise WeChatClientException(error["errcode"], error.get("errmsg", ""))
            return bytes(content)
        raise AssertionError("unreachable")


def _api_error(exc: WeChatClientException, sent: int, parts: int) -> DeliveryError:
    code = exc.errcode
    if sent:
        return DeliveryError(f"wechat_partly_sent: 长消息已发出 {sent}/{parts} 段后失败（{code}），未重发以免重复", False)
    if code in FATAL_API_ERRORS:
        return DeliveryError(FATAL_API_ERRORS[code], retryable=False)
    if code is None:
        status = exc.response.status_code if exc.response is not None else "?"
        return DeliveryError(f"wechat_http_error: WeChat API answered HTTP {status}", retryable=True)
    return DeliveryError(f"wechat_api_error {code}: {exc.errmsg}", retryable=code in RETRYABLE_API_ERRORS)


