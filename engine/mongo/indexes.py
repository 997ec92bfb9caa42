"""Index specs from an archive's metadata, made acceptable to MongoDB 4.2+ the way mongorestore's
--convertLegacyIndexes does (common/bsonutil/indexes.go and mongorestore/restore.go in mongo-tools):

- a key value that is not a number or a string, or is zero (any numeric type) or the empty string, becomes 1
  (a float near zero keeps its sign: -0.0 becomes -1);
- options that MongoDB does not know as index options are dropped (pre-3.4 dumps carry `ns`, `safe`, …);
- an index whose key, once normalised, equals an earlier index's key is skipped.

`v` and `ns` are always dropped: the target builds its own current index version.
"""

from __future__ import annotations

from typing import Any

from bson import Decimal128, Int64, json_util

# MongoDB's index options (mongo-tools' list, from index_descriptor.h, plus the 4.4+ `hidden` and the
# 6.0+ `prepareUnique`). Anything else in an archive is either legacy or not meant for the server.
INDEX_OPTIONS = frozenset(
    {
        "2dsphereIndexVersion",
        "background",
        "bits",
        "bucketSize",
        "coarsestIndexedLevel",
        "collation",
        "default_language",
        "expireAfterSeconds",
        "finestIndexedLevel",
        "hidden",
        "key",
        "language_override",
        "max",
        "min",
        "name",
        "partialFilterExpression",
        "prepareUnique",
        "sparse",
        "storageEngine",
        "textIndexVersion",
        "unique",
        "weights",
        "wildcardProjection",
    }
)
_ALWAYS_DROPPED = ("v", "ns")
_EPSILON = 1e-9


def normalised_key_value(value: Any) -> tuple[Any, bool]:
    """One key value as MongoDB 3.4+ accepts it, and whether it changed."""
    if isinstance(value, bool):  # before int: a bool is an int in Python, but BSON true is not a number
        return 1, True
    if isinstance(value, int | Int64):
        return (1, True) if value == 0 else (value, False)
    if isinstance(value, float):
        if abs(value) < _EPSILON:  # as mongo-tools: -0.0 >= 0, so it becomes 1; NaN is left alone
            return (1 if value >= 0 else -1), True
        return value, False
    if isinstance(value, Decimal128):
        decimal = value.to_decimal()
        return (1, True) if decimal.is_finite() and decimal.is_zero() else (value, False)
    if isinstance(value, str):
        return (1, True) if value == "" else (value, False)
    return 1, True


def _same_key(first: dict[str, Any], second: dict[str, Any]) -> bool:
    if list(first) != list(second):
        return False
    for name, value in first.items():
        other = second[name]
        if isinstance(value, str) or isinstance(other, str):
            if value != other:
                return False
        elif abs(_as_float(value) - _as_float(other)) >= _EPSILON:
            return False
    return True


def _as_float(value: Any) -> float:
    return float(value.to_decimal()) if isinstance(value, Decimal128) else float(value)


def _shown(value: Any) -> str:
    return json_util.dumps(value, json_options=json_util.RELAXED_JSON_OPTIONS)


def index_specs(
    indexes: list[Any], namespace: str, *, keep_specs: bool = False
) -> tuple[list[dict[str, Any]], list[str]]:
    """The createIndexes specs for a collection's archived indexes (without `_id_`, which the server makes),
    and one line per change made. With `keep_specs`, the specs go as archived (only `v`/`ns` dropped)."""
    specs: list[dict[str, Any]] = []
    changes: list[str] = []
    for index in indexes:
        if not isinstance(index, dict) or index.get("name") == "_id_":
            continue
        spec = {name: value for name, value in index.items() if name not in _ALWAYS_DROPPED}
        if keep_specs:
            specs.append(spec)
            continue
        label = f"{namespace} index {spec.get('name', '?')!s}"
        key = spec.get("key")
        if isinstance(key, dict):
            converted = {}
            for field, value in key.items():
                converted[field], changed = normalised_key_value(value)
                if changed:
                    changes.append(f"{label}: key {field}: {_shown(value)} -> {_shown(converted[field])}")
            spec["key"] = converted
        unknown = sorted(name for name in spec if name not in INDEX_OPTIONS)
        for name in unknown:
            changes.append(f"{label}: dropped option {name}={_shown(spec.pop(name))}")
        if isinstance(spec.get("key"), dict) and any(
            isinstance(other.get("key"), dict) and _same_key(other["key"], spec["key"]) for other in specs
        ):
            changes.append(f"{label}: skipped, its key equals an earlier index's once normalised")
            continue
        specs.append(spec)
    return specs, changes
