"""Who is the client, and did it use TLS? Reverse-proxy headers, believed only from proxies
the deployment trusts (VENALAB_TRUSTED_PROXIES).

Without trusted proxies, or when the direct peer is not one of them, the client is the socket
peer and `X-Forwarded-For` / `X-Forwarded-Proto` are ignored: anyone can send them. Behind a
trusted proxy, the client is the rightmost `X-Forwarded-For` address that is not itself a
trusted proxy (each proxy appends the address it saw, so the entries left of it are whatever
the client claimed), and TLS is what the nearest proxy wrote in `X-Forwarded-Proto`.

`venalab serve` turns uvicorn's own proxy-header handling off, so the peer seen here is the
socket's.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.requests import HTTPConnection

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _address(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


@dataclass(frozen=True)
class TrustedProxies:
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, items: Iterable[str]) -> TrustedProxies:
        return cls(tuple(ipaddress.ip_network(item, strict=False) for item in items))

    def trusts(self, host: str | None) -> bool:
        addr = _address(host) if host else None
        return addr is not None and any(addr in net for net in self.networks)

    def _via_trusted_peer(self, request: HTTPConnection) -> bool:
        return bool(self.networks) and self.trusts(request.client.host if request.client else None)

    def client(self, request: HTTPConnection) -> str:
        """The client's address (what login throttling counts and the audit log records)."""
        peer = request.client.host if request.client else "unknown"
        if not self._via_trusted_peer(request):
            return peer
        hops = [
            hop.strip()
            for value in request.headers.getlist("x-forwarded-for")
            for hop in value.split(",")
            if hop.strip()
        ]
        for hop in reversed(hops):
            addr = _address(hop)
            if addr is None:
                return peer  # a proxy wrote something that is not an address: trust no further
            if not any(addr in net for net in self.networks):
                return str(addr)
        return str(_address(hops[0])) if hops else peer

    def is_tls(self, request: HTTPConnection) -> bool:
        """Whether the client's connection used TLS: to us directly, or to the trusted proxy
        in front of us (its `X-Forwarded-Proto`, the last value when there are several)."""
        if request.url.scheme in ("https", "wss"):
            return True
        if not self._via_trusted_peer(request):
            return False
        values = [
            v.strip().lower()
            for value in request.headers.getlist("x-forwarded-proto")
            for v in value.split(",")
            if v.strip()
        ]
        return bool(values) and values[-1] == "https"
