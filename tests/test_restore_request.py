"""The restore request crosses into a Kubernetes Job as data: every field survives the round trip, and a
malformed request is one clear error. (The Job-side parse through the real CLI parser is in
test_kubernetes.py, against a real API server.)"""

from __future__ import annotations

import json
from dataclasses import fields

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.common.errors import ConfigError
from engine.common.namespaces import NamespaceFilter
from engine.common.remap import Rename
from engine.restore.request import LOADERS, MODES, RestoreRequest, request_from_json, request_to_json

words = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="*."), min_size=1, max_size=12)
patterns = st.builds(lambda db, coll: f"{db}.{coll}", words, st.one_of(words, st.just("*")))
renames = st.builds(lambda a, b, c: Rename(f"{a}.*", f"{b}.{c}*"), words, words, words)
choice = st.one_of(
    st.fixed_dictionaries({"latest": st.just(True)}),
    st.fixed_dictionaries({"archive": words}),
    st.fixed_dictionaries({"day": st.dates()}),
)
requests = choice.flatmap(
    lambda chosen: st.builds(
        RestoreRequest,
        **{name: st.just(value) for name, value in chosen.items()},
        namespaces=st.builds(
            NamespaceFilter,
            databases=st.lists(words, max_size=3).map(tuple),
            include=st.lists(patterns, max_size=3).map(tuple),
            exclude=st.lists(patterns, max_size=3).map(tuple),
            system_databases=st.booleans(),
        ),
        renames=st.lists(renames, max_size=3).map(tuple),
        mode=st.sampled_from(MODES),
        dry_run=st.booleans(),
        loader=st.sampled_from(LOADERS),
        parallel=st.integers(1, 64),
        insert_workers=st.integers(1, 64),
        indexes=st.booleans(),
        keep_index_specs=st.booleans(),
        two_pass=st.booleans(),
        wait_ready_seconds=st.floats(0, 3600, allow_nan=False),
        rto_seconds=st.floats(1, 86400, allow_nan=False),
        to_time=st.one_of(st.none(), st.just("2026-11-25T14:32:05Z"), st.just("1796220981:7")),
        across_restores=st.booleans(),
    )
)


def test_the_strategy_sets_every_field() -> None:
    """A new field must be added to the strategy above, or the round trip would not cover it."""
    covered = {
        "latest",
        "archive",
        "day",
        "namespaces",
        "renames",
        "mode",
        "dry_run",
        "loader",
        "parallel",
        "insert_workers",
        "indexes",
        "two_pass",
        "keep_index_specs",
        "wait_ready_seconds",
        "rto_seconds",
        "to_time",
        "across_restores",
    }
    assert {item.name for item in fields(RestoreRequest)} == covered
    assert len(covered) == 17


@settings(max_examples=300, deadline=None)
@given(requests)
def test_every_field_round_trips(request: RestoreRequest) -> None:
    assert request_from_json(request_to_json(request)) == request


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[]",
        '{"format": 9, "latest": true}',
        '{"format": 1, "latest": true, "surprise": 1}',
        '{"format": 1, "day": "2026-13-01"}',
        '{"format": 1, "latest": true, "renames": [["a.*", "b"]]}',
        '{"format": 1, "latest": true, "archive": "x"}',
        '{"format": 1, "latest": true, "insert_workers": 0}',
    ],
)
def test_a_malformed_request_is_one_clear_error(text: str) -> None:
    with pytest.raises(ConfigError) as raised:
        request_from_json(text)
    assert "\n" not in str(raised.value)


def test_the_json_names_every_field() -> None:
    data = json.loads(request_to_json(RestoreRequest(latest=True)))
    assert set(data) == {item.name for item in fields(RestoreRequest)} | {"format"}
