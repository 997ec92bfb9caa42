"""Keeps secrets out of what vaultui prints or stores: URIs with passwords, keys in error messages."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit, urlunsplit

from engine.common.errors import ConfigError


def redact_uri(uri: str) -> str:
    """The URI with any password replaced by ***, for display."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return "<unparseable URI>"
    if "@" not in parts.netloc:
        return uri
    userinfo, _, hosts = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hosts}"))


def hosts_of(uri: str) -> str:
    """Only the host list of a MongoDB URI, to name the server in messages."""
    try:
        netloc = urlsplit(uri).netloc
    except ValueError:
        return "<unparseable URI>"
    return netloc.rpartition("@")[2] or "<no host>"


def scrub(message: str, secrets: list[str]) -> str:
    """The message with every secret (and its userinfo part) blanked out."""
    for secret in secrets:
        if not secret:
            continue
        message = message.replace(secret, redact_uri(secret))
        try:
            password = urlsplit(secret).password
        except ValueError:
            password = None
        if password:
            message = message.replace(password, "***")
    return message


_HOST = re.compile(r"^(?:\[(?P<ipv6>[0-9A-Fa-f:.%a-zA-Z0-9]+)\]|(?P<name>[A-Za-z0-9._-]+))(?::(?P<port>\d{1,5}))?$")


def check_host(host: str) -> None:
    """`host[:port]`, `[ipv6][:port]`: anything else is a one-line ConfigError, never a broken URI."""
    match = _HOST.match(host)
    valid = match is not None and (match["port"] is None or 0 < int(match["port"]) < 65536)
    if valid and match is not None and match["ipv6"]:
        try:
            ipaddress.IPv6Address(match["ipv6"].split("%")[0])
        except ValueError:
            valid = False
    if not valid:
        raise ConfigError(
            f"target host {host!r} is not HOST:PORT (an IPv6 address goes in brackets: [::1]:27017)",
            setting="target_host",
        )


def with_host(uri: str, host: str) -> str:
    """The URI aimed at one server (`host:port`) with a direct connection: the credentials and options
    stay, the host list and any replica set name go (a restore targets one member, as a restart hook does)."""
    check_host(host)
    try:
        parts = urlsplit(uri)
    except ValueError as error:  # e.g. an unclosed IPv6 bracket
        raise ConfigError(f"the target URI is malformed ({error}): fix VAULTUI_TARGET_URI") from None
    userinfo = parts.netloc.rpartition("@")[0]
    options = [
        item
        for item in parts.query.split("&")
        if item and not item.lower().startswith(("replicaset=", "directconnection="))
    ]
    if parts.scheme == "mongodb+srv" and not any(item.lower().startswith(("tls=", "ssl=")) for item in options):
        options.append("tls=true")  # +srv implies TLS; a plain mongodb:// URI must say so
    options.append("directConnection=true")
    return urlunsplit(("mongodb", f"{userinfo}@{host}" if userinfo else host, parts.path or "/", "&".join(options), ""))
