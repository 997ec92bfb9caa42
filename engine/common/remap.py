"""Namespace renaming for restores: 'sales.*' to 'sales_copy.*', as mongorestore's --nsFrom/--nsTo spell it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.common.errors import ConfigError


@dataclass(frozen=True)
class Rename:
    """One from → to pair; each '*' in `source` captures text that the matching '*' in `target` receives."""

    source: str
    target: str

    def __post_init__(self) -> None:
        if self.source.count("*") != self.target.count("*"):
            raise ConfigError(
                f"the rename from {self.source!r} to {self.target!r} must hold the same number of '*'",
                setting="renames",
            )
        if "." not in self.source or "." not in self.target:
            raise ConfigError(f"namespaces are database.collection: {self.source!r} → {self.target!r}")

    def apply(self, namespace: str) -> str | None:
        pattern = "^" + "(.*?)".join(re.escape(part) for part in self.source.split("*")) + "$"
        match = re.match(pattern, namespace)
        if not match:
            return None
        pieces = self.target.split("*")
        out = pieces[0]
        for captured, piece in zip(match.groups(), pieces[1:], strict=True):
            out += captured + piece
        return out


def build_renames(sources: list[str] | None, targets: list[str] | None) -> tuple[Rename, ...]:
    sources, targets = sources or [], targets or []
    if len(sources) != len(targets):
        raise ConfigError("renames come in pairs: a pattern to rename from and one to rename to", setting="renames")
    return tuple(Rename(source, target) for source, target in zip(sources, targets, strict=True))


def rename(namespace: str, renames: tuple[Rename, ...]) -> str:
    """The first matching rename's result, or the namespace unchanged."""
    for pair in renames:
        renamed = pair.apply(namespace)
        if renamed is not None:
            return renamed
    return namespace


def split_namespace(namespace: str) -> tuple[str, str]:
    database, _, collection = namespace.partition(".")
    return database, collection
