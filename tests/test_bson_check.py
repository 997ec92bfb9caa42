"""The BSON checker in C (engine/archive/_bsoncheck.c) against the reference, pymongo's decoder: on every document,
whole or mutated, both give the same verdict; framing a stream in C (iter_checked) counts and hashes exactly
what iter_bson frames; and a document only the C check refuses is still judged by pymongo. `make fuzz` runs
25 times as many mutations with a new seed (printed)."""

from __future__ import annotations

import hashlib
import io
import os
import random
import struct

import bson
import pytest
from bson import Code, Decimal128, MaxKey, MinKey, Timestamp
from bson.binary import Binary

from engine.archive import bson_check
from engine.archive.format import iter_bson, iter_checked
from engine.common.errors import VerificationError
from tests.helpers import sample_document

EXPLORE = os.environ.get("VAULTUI_HYPOTHESIS") == "explore"
MUTATIONS = 500_000 if EXPLORE else 20_000


def element(kind: int, name: bytes, value: bytes) -> bytes:
    return bytes([kind]) + name + b"\0" + value


def raw_document(*elements: bytes) -> bytes:
    body = b"".join(elements) + b"\0"
    return struct.pack("<i", len(body) + 4) + body


def string(text: bytes) -> bytes:
    return struct.pack("<i", len(text) + 1) + text + b"\0"


def every_type() -> bytes:
    """One document with every BSON type, the deprecated ones (which pymongo cannot encode) written by hand."""
    encoded = bson.encode(
        {
            "code": Code("f()", {"scope": 1}),
            "plain_code": Code("g()"),
            "decimal": Decimal128("1.5"),
            "min": MinKey(),
            "max": MaxKey(),
            "old_binary": Binary(b"abc", 2),
            "uuid": Binary(b"0123456789abcdef", 4),
            "stamp": Timestamp(1, 2),
            "nested": [[1, {"é": "\U0001f600"}], [], {"$ref": "c", "$id": 1}],
        }
    )
    handmade = (
        element(0x06, b"undefined", b"")
        + element(0x0E, b"symbol", string(b"sym"))
        + element(0x0C, b"pointer", string(b"coll") + b"\x01" * 12)
    )
    return struct.pack("<i", len(encoded) + len(handmade)) + handmade + encoded[4:]


def corpus() -> list[bytes]:
    return [bson.encode(sample_document(index)) for index in range(20)] + [every_type()]


def pymongo_accepts(document: bytes) -> bool:
    try:
        bson.decode_all(document, codec_options=bson_check.DECODE_OPTIONS)
    except bson_check.DECODE_ERRORS:
        return False
    return True


def native_accepts(document: bytes) -> bool:
    try:
        documents, consumed = bson_check._native_check(document, bson_check.MAX_DOCUMENT_BYTES, True, 0)
    except ValueError:
        return False
    return consumed == len(document)


def mutate(document: bytes, rng: random.Random) -> bytes:
    changed = bytearray(document)
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(changed))
        roll = rng.random()
        if roll < 0.5:
            changed[at] = rng.randrange(256)
        elif roll < 0.75:
            changed[at] ^= 1 << rng.randrange(8)
        else:  # bytes that mean something to BSON or to UTF-8
            changed[at] = rng.choice([0, 1, 2, 3, 4, 5, 0x0B, 0x0F, 0x7F, 0xFF, 0x80, 0xBF, 0xC0, 0xE0, 0xED, 0xF4])
    return bytes(changed)


def test_the_c_checker_is_built() -> None:
    assert bson_check.NATIVE, (
        "engine.archive._bsoncheck is not built: verify falls back to pymongo's decoder (about 40x slower). "
        "Reinstall with a C compiler present (`make` does: pip install -e .)"
    )


def test_whole_documents_pass_both() -> None:
    for document in corpus():
        assert pymongo_accepts(document) and native_accepts(document)


def test_mutated_documents_get_the_same_verdict_from_c_and_pymongo() -> None:
    seed = random.randrange(1 << 32) if EXPLORE else 20261126
    print(f"seed {seed}")
    rng = random.Random(seed)
    documents = corpus()
    disagreements = []
    verdicts = {True: 0, False: 0}
    for _ in range(MUTATIONS):
        mutated = mutate(rng.choice(documents), rng)
        expected = pymongo_accepts(mutated)
        verdicts[expected] += 1
        if native_accepts(mutated) != expected:
            disagreements.append((mutated.hex(), expected))
    assert not disagreements, f"seed {seed}: {len(disagreements)} disagreements, first {disagreements[:3]}"
    assert min(verdicts.values()) > MUTATIONS // 10  # both verdicts exercised, not only one


@pytest.mark.parametrize("read_size", [1, 7, 4096, 1 << 20])
def test_framing_in_c_matches_iter_bson(read_size: int) -> None:
    stream = b"".join(corpus() * 300) + raw_document(element(0x02, b"big", string(b"x" * (3 << 20))))

    class Trickle(io.BytesIO):  # short reads, as tar and the codecs give
        def read(self, size: int = -1) -> bytes:
            return super().read(min(read_size, size) if size > 0 else read_size)

    expected = [document for batch in iter_bson(io.BytesIO(stream), "x") for document in batch]
    chunks = list(iter_checked(Trickle(stream), "x", validate=True))
    assert sum(count for count, _ in chunks) == len(expected)
    joined = b"".join(bytes(chunk) for _, chunk in chunks)
    assert hashlib.sha256(joined).digest() == hashlib.sha256(b"".join(expected)).digest()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda data: data[:-3], "ends inside a document: the archive is truncated"),
        (lambda data: data + b"\x01\x00", "ends inside a document: the archive is truncated"),
        (lambda data: data + struct.pack("<i", 3), "impossible length 3"),
        (lambda data: data + struct.pack("<i", 64 << 20) + b"\0" * 64, "impossible length"),
        (lambda data: data[:-1] + b"\x01", "holds a malformed document"),
        (lambda data: data + raw_document(element(0x02, b"s", string(b"\xed\xa0\x80"))), "does not decode"),
        (lambda data: data + raw_document(element(0x42, b"x", b"")), "does not decode"),
    ],
)
def test_damage_is_named_as_iter_bson_names_it(damage, message: str) -> None:  # noqa: ANN001
    data = damage(b"".join(corpus()))
    with pytest.raises(VerificationError, match=message):
        for _ in iter_checked(io.BytesIO(data), "x.bson", validate=True):
            pass


def test_a_document_only_c_refuses_is_judged_by_pymongo(monkeypatch: pytest.MonkeyPatch) -> None:
    """Were the C check ever stricter than pymongo, it must not condemn a good archive."""
    documents = b"".join(corpus())
    real = bson_check._native_check
    refused: list[int] = []

    def stricter(buffer, max_size, validate, start):  # noqa: ANN001, ANN202 - refuses the second document once
        second = int.from_bytes(buffer[:4], "little")
        if validate and start < second and not refused:
            refused.append(second)
            raise ValueError("pretend", second)
        return real(buffer, max_size, validate, start)

    monkeypatch.setattr(bson_check, "_native_check", stricter)
    bson_check.check_documents(documents, "x")
    assert refused
    assert bson_check.check_buffer(documents, "x", validate=True) == (len(corpus()), len(documents))


def test_without_the_extension_pymongo_checks_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """An install without a C compiler: the same counts, bytes and verdicts, pymongo doing the checking."""
    from engine.archive import format as archive

    good = b"".join(corpus() * 50)
    bad = good + raw_document(element(0x02, b"s", string(b"\xff")))
    native = list(iter_checked(io.BytesIO(good), "x", validate=True))
    monkeypatch.setattr(archive, "NATIVE", False)
    monkeypatch.setattr(bson_check, "_native_check", None)
    fallback = list(iter_checked(io.BytesIO(good), "x", validate=True))
    assert sum(count for count, _ in fallback) == sum(count for count, _ in native) == len(corpus()) * 50
    assert b"".join(bytes(chunk) for _, chunk in fallback) == good
    with pytest.raises(VerificationError, match="does not decode"):
        list(iter_checked(io.BytesIO(bad), "x", validate=True))
    assert bson_check.count_documents(good) == len(corpus()) * 50
