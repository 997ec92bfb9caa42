"""Connecting to MongoDB and choosing what to dump: databases, collections, views, filters, oplog time."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import pymongo
from bson import Timestamp
from pymongo.errors import ConfigurationError, OperationFailure, PyMongoError, ServerSelectionTimeoutError

from engine.common.errors import ConfigError, SourceError
from engine.common.namespaces import SYSTEM_DATABASES, NamespaceFilter
from engine.common.redact import hosts_of, scrub

_AUTH_FAILED = 18


def connect(
    uri: str, *, role: str = "source", timeout_seconds: float = 10.0, **options: Any
) -> pymongo.MongoClient[Any]:
    """A client that has answered a ping, or a one-line error naming the server and the fix."""
    if not uri:
        raise ConfigError(f"no MongoDB URI for the {role}: set VAULTUI_MONGO_URI or give a URI file", setting="uri")
    try:
        client: pymongo.MongoClient[Any] = pymongo.MongoClient(
            uri, serverSelectionTimeoutMS=int(timeout_seconds * 1000), appname="vaultui", **options
        )
    except (ConfigurationError, ValueError, TypeError) as error:
        raise ConfigError(f"malformed MongoDB URI for the {role}: {scrub(str(error), [uri])}") from None
    try:
        client.admin.command("ping")
    except ServerSelectionTimeoutError:
        client.close()
        raise SourceError(
            f"cannot reach MongoDB at {hosts_of(uri)} ({role}) within {timeout_seconds:g} s: "
            "check the URI, that the server is running, and the network"
        ) from None
    except OperationFailure as error:
        client.close()
        if error.code == _AUTH_FAILED:
            raise SourceError(f"MongoDB at {hosts_of(uri)} rejected the credentials in the {role} URI") from None
        raise SourceError(f"MongoDB at {hosts_of(uri)} refused ping: {scrub(str(error), [uri])}") from None
    except PyMongoError as error:
        client.close()
        raise SourceError(f"MongoDB at {hosts_of(uri)} failed: {scrub(str(error), [uri])}") from None
    return client


def server_version(client: pymongo.MongoClient[Any]) -> str:
    try:
        info = client.admin.command("buildInfo")
    except PyMongoError:
        return "unknown"
    version = str(info.get("version", "unknown"))
    if info.get("ferretdb") or info.get("ferretdbVersion"):
        return f"{version} (FerretDB {info.get('ferretdb', {}).get('version', '')})".replace(" )", ")")
    return version


def oplog_time(client: pymongo.MongoClient[Any]) -> dict[str, int] | None:
    """The newest oplog timestamp on a replica set member, or None on a standalone server (no oplog). A
    member says it in `hello`; a server that keeps an oplog without saying so (FerretDB, the test bed) is
    asked for its newest entry."""
    try:
        hello = client.admin.command("hello")
        stamp = hello.get("lastWrite", {}).get("opTime", {}).get("ts")
        if not isinstance(stamp, Timestamp) and client.local.list_collection_names(filter={"name": "oplog.rs"}):
            newest = client.local["oplog.rs"].find({}, {"ts": 1}).sort("$natural", -1).limit(1)
            stamp = next(iter(newest), {"ts": None})["ts"]
    except PyMongoError:
        return None
    if isinstance(stamp, Timestamp):
        return {"t": stamp.time, "i": stamp.inc}
    return None


@dataclass(frozen=True)
class CollectionPlan:
    """One namespace to dump, with what listCollections said of it."""

    database: str
    collection: str
    type: str
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    uuid: str | None = None

    @property
    def namespace(self) -> str:
        return f"{self.database}.{self.collection}"


def _uuid_hex(value: object) -> str | None:
    """listCollections gives the UUID as a UUID or as BSON binary, depending on the client's settings."""
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, bytes):
        return value.hex()
    return None


def plan_dump(client: pymongo.MongoClient[Any], chosen: NamespaceFilter) -> tuple[list[CollectionPlan], list[str]]:
    """The namespaces to dump and the ones skipped with why. Unknown databases asked for are an error."""
    try:
        existing = client.list_database_names()
    except PyMongoError as error:
        raise SourceError(f"cannot list databases: {error}") from None
    missing = [name for name in chosen.databases if name not in existing]
    if missing:
        user_databases = [name for name in existing if name not in SYSTEM_DATABASES]
        raise ConfigError(
            f"database {missing[0]!r} not found on the server (it has: {', '.join(sorted(user_databases)) or 'none'})"
        )
    plans: list[CollectionPlan] = []
    skipped: list[str] = []
    for database in sorted(existing):
        if not chosen.accepts_database(database):
            continue
        try:
            listed = list(client[database].list_collections())
        except PyMongoError as error:
            raise SourceError(f"cannot list collections of {database!r}: {error}") from None
        for info in sorted(listed, key=lambda item: item["name"]):
            name, kind = info["name"], info.get("type", "collection")
            namespace = f"{database}.{name}"
            if not chosen.accepts(namespace):
                continue
            if name.startswith("system.") and name != "system.js":
                continue  # server-managed: views and users are restored from their own metadata
            if kind == "timeseries":
                skipped.append(
                    f"{namespace}: the native dumper does not dump time-series collections yet; "
                    "use the mongodump dumper"
                )
                continue
            if kind not in ("collection", "view"):
                skipped.append(f"{namespace}: unknown collection type {kind!r}")
                continue
            collection_uuid = _uuid_hex(info.get("info", {}).get("uuid"))
            plans.append(CollectionPlan(database, name, kind, dict(info.get("options", {})), collection_uuid))
    return plans, skipped
