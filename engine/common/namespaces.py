"""Which namespaces a run covers: a pure filter, importable without a MongoDB driver."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SYSTEM_DATABASES = ("admin", "local", "config")

# vaultui's own namespaces on a server it restores into: a restore's staging collections (engine.restore.staging),
# its marker, and a drill's scratch databases (engine.restore.drill). Never user data: the oplog capture and the
# replay leave their entries out, or a restore to a time would bring back a drill's or a restore's writes.
STAGING_PREFIX = "__vaultui_restore_"
MARKER_NAMESPACE = "admin.vaultui_restore"
DRILL_DATABASE_PREFIX = "vaultui_drill_"


def vaultui_database(database: str) -> bool:
    return database.startswith(DRILL_DATABASE_PREFIX)


def vaultui_namespace(namespace: str) -> bool:
    """True for a namespace vaultui itself writes into a target (staging, marker, drill)."""
    database, _, collection = namespace.partition(".")
    return vaultui_database(database) or collection.startswith(STAGING_PREFIX) or namespace == MARKER_NAMESPACE


# Oplog commands that touch no collection of their own (or many): kept, whatever the namespace.
_CROSS_COMMANDS = {"applyOps", "commitTransaction", "abortTransaction"}


def only_vaultui_entry(entry: Mapping[str, Any]) -> bool:
    """An oplog entry whose every effect lands in vaultui's own namespaces: a staging collection's inserts,
    its creation, its drop, a drill's database. A rename out of staging onto a user collection (a restore's
    swap) is not: it changes user data (engine.pitr.plan says so before a replay across it)."""
    namespace = str(entry.get("ns", ""))
    if entry.get("op") in ("i", "u", "d"):
        return vaultui_namespace(namespace)
    if entry.get("op") != "c":
        return False
    database = namespace.split(".", 1)[0]
    command = entry.get("o") or {}
    name = next(iter(command), "")
    if vaultui_database(database):
        return True
    if name == "renameCollection":
        return vaultui_namespace(str(command.get("renameCollection", ""))) and vaultui_namespace(
            str(command.get("to", ""))
        )
    if name in _CROSS_COMMANDS or not isinstance(command.get(name), str):
        return False
    return vaultui_namespace(f"{database}.{command[name]}")


@dataclass(frozen=True)
class NamespaceFilter:
    """Which namespaces a run covers: databases by name, then include/exclude patterns like 'sales.*'."""

    databases: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    system_databases: bool = False

    def accepts_database(self, database: str) -> bool:
        if self.databases and database not in self.databases:
            return False
        return database not in SYSTEM_DATABASES or self.system_databases or database in self.databases

    def accepts(self, namespace: str) -> bool:
        if not self.accepts_database(namespace.split(".", 1)[0]):
            return False
        if self.include and not any(fnmatch.fnmatchcase(namespace, pattern) for pattern in self.include):
            return False
        return not any(fnmatch.fnmatchcase(namespace, pattern) for pattern in self.exclude)


@dataclass(frozen=True)
class BothFilters:
    """Namespaces two filters both accept: a restore's own filter within the scope its archive was made with."""

    first: NamespaceFilter
    second: NamespaceFilter

    def accepts_database(self, database: str) -> bool:
        return self.first.accepts_database(database) and self.second.accepts_database(database)

    def accepts(self, namespace: str) -> bool:
        return self.first.accepts(namespace) and self.second.accepts(namespace)
