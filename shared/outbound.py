"""URLs a user gave us (a team's chat, a partner's webhook, an Open311 media link)
are hostile until checked, twice: their shape when stored, their address when used.

A stored URL must use a scheme that makes sense for its purpose and name one
destination.  At send time its host is resolved and refused when any address
is not a public one (loopback, private, link-local — which holds the cloud
metadata address — shared, multicast, reserved), unless the operator listed
that host.  Checking at send time, not only when stored, is what stops a name
that resolved to a public address yesterday and to 10.0.0.5 today."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Collection
from urllib.parse import urlsplit

# apprise schemes whose provider host is fixed by apprise (the URL holds tokens, not a host).
CHAT_SCHEMES_FIXED_HOST = frozenset({"wecombot", "dingtalk", "feishu", "lark", "tgram", "slack"})
# apprise schemes that name their own server: its address is checked at send time.
CHAT_SCHEMES_OWN_HOST = frozenset({"matrix", "matrixs"})
# Generic web hooks: only to hosts the operator lists.
CHAT_SCHEMES_LISTED_HOSTS = frozenset({"json", "jsons", "form", "forms"})
CHAT_SCHEMES = CHAT_SCHEMES_FIXED_HOST | CHAT_SCHEMES_OWN_HOST | CHAT_SCHEMES_LISTED_HOSTS


class UnsafeUrl(ValueError):
    """The URL may not be used; the message says why without repeating it."""


def _one_url(url: str) -> str:
    text = url.strip()
    # apprise reads several URLs from one string split on commas and white space.
    if not text or any(c.isspace() for c in text) or "," in text:
        raise UnsafeUrl("must be exactly one URL")
    return text


def _allowed(host: str, port: int | None, allowed_hosts: Collection[str]) -> bool:
    host = host.lower()
    return host in allowed_hosts or (port is not None and f"{host}:{port}" in allowed_hosts)


def check_chat_url(url: str, *, allowed_hosts: Collection[str] = ()) -> str:
    """A team chat URL: one apprise URL of a chat provider, or of a generic
    web hook (json://, form://) to a host the operator listed."""
    text = _one_url(url)
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in CHAT_SCHEMES:
        raise UnsafeUrl(f"scheme must be one of {', '.join(sorted(CHAT_SCHEMES))}")
    if scheme in CHAT_SCHEMES_LISTED_HOSTS and not _allowed(parts.hostname or "", parts.port, allowed_hosts):
        raise UnsafeUrl(f"{scheme}:// may only go to a host the operator allows (HEARTLINE_OUTBOUND_ALLOWED_HOSTS)")
    if scheme not in CHAT_SCHEMES_FIXED_HOST and not parts.hostname:
        raise UnsafeUrl("must name a host")
    return text


def check_webhook_url(url: str, *, require_https: bool) -> str:
    """A partner's webhook: http(s), a host, no credentials in the URL."""
    text = _one_url(url)
    parts = urlsplit(text)
    if parts.scheme not in ("https", "http") or (require_https and parts.scheme != "https"):
        raise UnsafeUrl("must be an https:// URL" if require_https else "must be an http(s):// URL")
    if not parts.hostname:
        raise UnsafeUrl("must name a host")
    if parts.username or parts.password:
        raise UnsafeUrl("must not carry credentials")
    return text


def host_to_check(url: str) -> tuple[str, int | None] | None:
    """The (host, port) a send to `url` connects to, or None for a chat provider whose host is fixed."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in CHAT_SCHEMES_FIXED_HOST:
        return None
    return (parts.hostname or "", parts.port)


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def check_destination(url: str, *, allowed_hosts: Collection[str] = ()) -> None:
    """Raises UnsafeUrl unless every address the URL's host resolves to is public
    (or the host is listed).  Call it right before each send."""
    target = host_to_check(url)
    if target is None:
        return
    host, port = target
    if not host:
        raise UnsafeUrl("must name a host")
    if _allowed(host, port, allowed_hosts):
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port or 443, type=socket.SOCK_STREAM)
    except OSError:
        raise UnsafeUrl("its host does not resolve") from None
    if not infos or not all(is_public(str(info[4][0])) for info in infos):
        raise UnsafeUrl("its host resolves to a loopback, private, link-local or reserved address")
