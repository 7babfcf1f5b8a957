"""The client's address of a request, through trusted reverse proxies only.

Behind a reverse proxy every request comes from the proxy's address, so per-address limits
would treat all clients as one. The setting ``trusted_proxies`` (addresses or CIDR networks)
names the proxies whose ``X-Forwarded-For`` is believed: the client is the right-most
forwarded address that is not itself a trusted proxy. A header sent by anyone else is ignored
(a client could write any address into it).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from flask import current_app, request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Entries of X-Forwarded-For looked at, from the right (a longer header is cut).
MAX_FORWARDED_HOPS = 20


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """``("10.0.0.1", "192.168.0.0/16", "::1")`` as networks (ValueError names a bad entry)."""
    networks = []
    for entry in entries:
        text = str(entry).strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(
                f"trusted_proxies: {text!r} is not an IP address or network (e.g. 10.0.0.1 or"
                " 10.0.0.0/8)"
            ) from None
    return tuple(networks)


def _address(text: str) -> Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "203.0.113.9:51000"
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, trusted: tuple[Network, ...]) -> bool:
    return any(address.version == net.version and address in net for net in trusted)


def resolve_client(
    remote_addr: str | None,
    forwarded_for_header: str | None,
    trusted: Iterable[str] | tuple[Network, ...],
) -> str:
    """The client's address: ``remote_addr``, or through trusted proxies the forwarded one.

    Parameters
    ----------
    remote_addr
        The TCP peer (``request.remote_addr``); ``"?"`` when missing.
    forwarded_for_header
        The ``X-Forwarded-For`` header(s), comma-separated, client first.
    trusted
        Trusted proxies: addresses or networks, as text or parsed by :func:`parse_networks`.

    Only when the peer is a trusted proxy is the header read, from the right: each entry that
    is also a trusted proxy is skipped, and the first that is not is the client. If every
    entry is trusted (or the header is missing), the left-most trusted hop is the answer; an
    entry that is not an address stops the walk (the hop before it is answered).
    """
    entries = tuple(trusted)
    if all(isinstance(t, ipaddress.IPv4Network | ipaddress.IPv6Network) for t in entries):
        networks: tuple[Network, ...] = entries  # type: ignore[assignment]
    else:
        networks = parse_networks(str(t) for t in entries)
    peer = _address(remote_addr or "")
    if peer is None:
        return remote_addr or "?"
    if not networks or not _trusted(peer, networks):
        return str(peer)
    client = peer
    hops = [h for h in (forwarded_for_header or "").split(",") if h.strip()]
    for hop in reversed(hops[-MAX_FORWARDED_HOPS:]):
        address = _address(hop)
        if address is None:
            break
        client = address
        if not _trusted(address, networks):
            break
    return str(client)


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return parse_networks(entries)


def client_address() -> str:
    """The address of the current request's client (see :func:`resolve_client`)."""
    settings = current_app.extensions.get("dispatch.settings")
    trusted = tuple(getattr(settings, "trusted_proxies", ()) or ())
    forwarded = ",".join(request.headers.getlist("X-Forwarded-For"))
    return resolve_client(request.remote_addr, forwarded, _networks(trusted))
