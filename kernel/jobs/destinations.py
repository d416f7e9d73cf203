"""Where a callback may be sent: public addresses only, unless QUALIA_CALLBACK_ALLOW_PRIVATE is set.

A `callback_url` makes the server send a request to an address its caller
chose: without a check, any key holder could reach the server's own loopback
services, the cloud metadata service (169.254.169.254) or the private network
behind it (server-side request forgery). So:

- when a job is submitted, a URL whose host is an address literal (in any form
  the system's parser accepts: `127.1`, `2130706433`, `[::ffff:127.0.0.1]`) in
  a refused range is a 422 naming `$.callback_url`;
- when a callback is delivered, a host name is resolved once by
  `CheckedResolver`, every address it resolves to is checked, and aiohttp
  connects to the addresses the resolver returned (the request keeps the
  name's Host header and TLS server name). There is no second lookup that
  DNS rebinding could switch to another address. A refused destination fails
  the delivery at once, without retries.

Refused: loopback, link-local, private, multicast, unspecified, reserved and
any other range that is not publicly routable (e.g. 100.64.0.0/10); an IPv6
address that embeds an IPv4 one (mapped, 6to4) is judged by the IPv4 address.
"""
from __future__ import annotations

import ipaddress
import socket
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

__all__ = ["ALLOW_PRIVATE_VAR", "CheckedResolver", "RefusedDestination", "literal_address", "refused_range"]

ALLOW_PRIVATE_VAR = "QUALIA_CALLBACK_ALLOW_PRIVATE"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_RANGES = (("is_unspecified", "unspecified"), ("is_loopback", "loopback"), ("is_link_local", "link-local"),
           ("is_multicast", "multicast"), ("is_reserved", "reserved"), ("is_private", "private"))


class RefusedDestination(OSError):
    """A callback destination in a refused range (an OSError, as aiohttp expects from a resolver)."""


def refused_range(address: IPAddress) -> str | None:
    """Why `address` may not receive callbacks (`loopback`, `private`, ...), or None if it is public."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            address = embedded
    for attribute, name in _RANGES:
        if getattr(address, attribute):
            return name
    if not address.is_global:
        return "not publicly routable"
    return None


def literal_address(host: str) -> IPAddress | None:
    """The address a host written as a number stands for (`10.0.0.1`, `10.1`, `0x7f000001`, `::1`), else None.

    Parsed by the system like a connection would (`AI_NUMERICHOST`: never a DNS query).
    """
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError, ValueError):
        return None
    return ipaddress.ip_address(infos[0][4][0]) if infos else None


def refusal(host: str, address: IPAddress, reason: str) -> str:
    shown = f"{host} resolves to {address}" if host.strip("[]") != str(address) else str(address)
    return (f"{shown} ({reason}): callbacks go to public addresses only; set {ALLOW_PRIVATE_VAR}=1 to allow "
            f"private, loopback and link-local ones")


def check_literal(host: str) -> str | None:
    """Why a host written as an address may not receive callbacks, or None (a public address, or a name)."""
    address = literal_address(host)
    if address is None:
        return None
    reason = refused_range(address)
    return refusal(host, address, reason) if reason is not None else None


class CheckedResolver(AbstractResolver):
    """aiohttp's resolver, refusing a name if any of its addresses is in a refused range.

    aiohttp connects to the addresses `resolve` returns (address literals skip the
    resolver: `check_literal` covers them), so what was checked is what is used.
    """

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner or DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            address = ipaddress.ip_address(result["host"].split("%", 1)[0])  # drop an IPv6 zone
            reason = refused_range(address)
            if reason is not None:
                raise RefusedDestination(refusal(host, address, reason))
        return results

    async def close(self) -> None:
        await self._inner.close()


def is_refusal(exc: BaseException) -> RefusedDestination | None:
    """The RefusedDestination behind an aiohttp connection error, if that is what it was."""
    seen: Any = exc
    for _ in range(4):
        if isinstance(seen, RefusedDestination):
            return seen
        seen = getattr(seen, "os_error", None) or seen.__cause__
        if seen is None:
            return None
    return None
