"""The benchmarks' documents: the suite's sample document (most BSON types FerretDB stores) plus a text field
of 60–160 words, about 1 KB in all, closer to a SaaS application's records than the suite's 270-byte ones and
compressible like real text. Sized in MB of BSON, so every size means the same bytes to every tool."""

from __future__ import annotations

import random

import bson
import pymongo

from tests.helpers import sample_document

_VOCABULARY_RANDOM = random.Random(7)
VOCABULARY = [
    "".join(_VOCABULARY_RANDOM.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(_VOCABULARY_RANDOM.randint(2, 10)))
    for _ in range(4000)
]


def bench_document(index: int) -> dict:
    words = random.Random(index)
    document = sample_document(index)
    document["note"] = " ".join(words.choice(VOCABULARY) for _ in range(words.randint(60, 160)))
    return document


def documents_for(megabytes: float) -> int:
    """How many bench documents make about `megabytes` MB (10^6 bytes) of BSON."""
    average = sum(len(bson.encode(bench_document(index))) for index in range(2000)) / 2000
    return max(1, round(megabytes * 1e6 / average))


def seed_bench(client: pymongo.MongoClient, database: str, collection: str, documents: int) -> None:
    """`documents` bench documents and one secondary index, as the suite's seed makes."""
    target = client[database][collection]
    for start in range(0, documents, 5000):
        target.insert_many([bench_document(index) for index in range(start, min(documents, start + 5000))])
    target.create_index([("number", 1)], name="number_1")
