"""Keeps secrets out of what vaultui prints or stores: URIs with passwords, keys in error messages."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


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


def with_host(uri: str, host: str) -> str:
    """The URI aimed at one server (`host:port`) with a direct connection: the credentials and options
    stay, the host list and any replica set name go (a restore targets one member, as a restart hook does)."""
    parts = urlsplit(uri)
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
