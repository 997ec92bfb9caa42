"""Which namespaces a run covers: a pure filter, importable without a MongoDB driver."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

SYSTEM_DATABASES = ("admin", "local", "config")


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
