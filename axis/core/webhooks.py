"""Where the axis may push: the rules for a webhook URL at registration and for the address a push
connects to.

At registration the URL must be http or https, and a host written as `localhost` or as a loopback,
link-local, unspecified or private IP address needs the operator's `--allow-private`. Names are not
resolved then: what a name points to can change later. So at push time, for an agency without
`--allow-private`, the dispatcher refuses to connect to any loopback, link-local or unspecified
address a name resolves to. A name resolving to a private (RFC 1918) address is allowed at push
time, because agencies' document systems often live on government private networks.
"""

from __future__ import annotations

import ipaddress
import socket
import urllib.parse

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

SCHEMES = ("http", "https")


class WebhookRefused(ValueError):
    """The URL or the address is not one the axis pushes to; the message says why."""


def literal_ip(host: str) -> IPAddress | None:
    """The address when `host` is written as one, including the old IPv4 forms a resolver accepts
    (`127.1`, `2130706433`, `0x7f.0.0.1`)."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if host and all(c in "0123456789abcdefxABCDEFX." for c in host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _unmapped(ip: IPAddress) -> IPAddress:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def local_kind(ip: IPAddress) -> str | None:
    """'loopback', 'link-local' or 'unspecified' for an address on this machine or its link."""
    ip = _unmapped(ip)
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_unspecified:
        return "unspecified"
    return None


def private_kind(ip: IPAddress) -> str | None:
    """local_kind, or 'private' for the other non-public ranges (10/8, 172.16/12, 192.168/16, fc00::/7…)."""
    kind = local_kind(ip)
    if kind is None and _unmapped(ip).is_private:
        return "private"
    return kind


def host_kind(host: str) -> str | None:
    """Why a written host needs --allow-private, or None."""
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return "loopback"
    ip = literal_ip(name)
    return private_kind(ip) if ip is not None else None


def check(url: str, *, allow_private: bool) -> str:
    """The URL when the axis may push to it; WebhookRefused saying what is wrong otherwise."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError as exc:
        raise WebhookRefused(f"webhook {url!r} is not a URL: {exc}") from None
    if parts.scheme.lower() not in SCHEMES:
        raise WebhookRefused(
            f"webhook must be an http or https URL, not {parts.scheme or 'no'} scheme in {url!r}"
        )
    host = parts.hostname
    if not host:
        raise WebhookRefused(f"webhook {url!r} has no host")
    kind = host_kind(host)
    if kind is not None and not allow_private:
        raise WebhookRefused(
            f"webhook host {host} is a {kind} address; pushes go there only when the operator "
            "says so with --allow-private"
        )
    return url


def refuse_connect(host: str, ip: IPAddress) -> WebhookRefused | None:
    """At push time, for an agency without --allow-private: a reason not to connect to `ip`."""
    kind = local_kind(ip)
    if kind is None:
        return None
    shown = host if host == str(ip) else f"{host} ({ip})"
    return WebhookRefused(
        f"webhook host {shown} is a {kind} address; refused without --allow-private"
    )
