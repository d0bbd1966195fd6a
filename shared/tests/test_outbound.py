"""Outbound URLs: the shapes refused when stored, the addresses refused when used."""

from __future__ import annotations

import pytest

from shared.outbound import UnsafeUrl, check_chat_url, check_destination, check_webhook_url, is_public


@pytest.mark.parametrize("url", [
    "json://169.254.169.254/latest/meta-data?method=PUT&+X-aws-ec2-metadata-token-ttl-seconds=21600",
    "mailto://user:pass@internal-host?smtp=10.0.0.5",
    "tgram://bot/chat, json://127.0.0.1/x",     # two URLs in one field
    "tgram://bot/chat json://127.0.0.1/x",
    "file:///etc/passwd",
    "http://example.org/hook",                  # not an apprise chat scheme
    "forms://10.1.2.3/submit",
])
def test_a_chat_url_that_could_reach_inside_is_refused(url: str) -> None:
    with pytest.raises(UnsafeUrl):
        check_chat_url(url)


@pytest.mark.parametrize("url", ["tgram://123:abc/456", "wecombot://BOTKEY", "dingtalk://token",
                                 "feishu://token", "slack://T1/B1/C1", "matrixs://user:pw@matrix.example.org/#room"])
def test_chat_provider_urls_are_taken(url: str) -> None:
    assert check_chat_url(url) == url


def test_a_generic_web_hook_goes_only_to_a_listed_host() -> None:
    assert check_chat_url("json://127.0.0.1:9000/chat/a", allowed_hosts={"127.0.0.1"})
    assert check_chat_url("json://chat.example.org/a", allowed_hosts={"chat.example.org"})
    with pytest.raises(UnsafeUrl):
        check_chat_url("json://127.0.0.1:9000/chat/a", allowed_hosts={"chat.example.org"})


@pytest.mark.parametrize("url,https,ok", [
    ("https://partner.example.org/hook", True, True),
    ("http://partner.example.org/hook", True, False),
    ("http://partner.example.org/hook", False, True),
    ("https://user:pw@partner.example.org/hook", False, False),
    ("gopher://partner.example.org/", False, False),
])
def test_webhook_shapes(url: str, https: bool, ok: bool) -> None:
    if ok:
        assert check_webhook_url(url, require_https=https) == url
    else:
        with pytest.raises(UnsafeUrl):
            check_webhook_url(url, require_https=https)


@pytest.mark.parametrize("address,public", [
    ("127.0.0.1", False), ("10.0.0.5", False), ("172.16.0.1", False), ("192.168.1.1", False),
    ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False), ("224.0.0.1", False),
    ("::1", False), ("fe80::1", False), ("fd00:ec2::254", False), ("::ffff:127.0.0.1", False),
    ("8.8.8.8", True), ("2001:4860:4860::8888", True),
])
def test_public_addresses(address: str, public: bool) -> None:
    assert is_public(address) is public


async def test_at_send_time_a_name_resolving_inside_is_refused_unless_listed() -> None:
    with pytest.raises(UnsafeUrl, match="loopback"):
        await check_destination("http://localhost:5432/")
    with pytest.raises(UnsafeUrl, match="loopback"):
        await check_destination("json://127.0.0.1:9000/chat")
    with pytest.raises(UnsafeUrl, match="resolve"):
        await check_destination("https://no-such-host.invalid/hook")
    await check_destination("json://127.0.0.1:9000/chat", allowed_hosts={"127.0.0.1:9000"})
    await check_destination("tgram://123:abc/456")  # the provider's host is apprise's, not the user's
