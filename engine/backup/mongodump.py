"""Backing up with the real mongodump (the old, trusted way): it dumps into a folder, and vaultui adds that
folder to the archive under the mongodump layout, counting and hashing each collection's documents."""

from __future__ import annotations

import hashlib
import json
import tarfile
from datetime import datetime
from pathlib import Path

from engine.archive.collection_files import NameScheme, UndecodableName, collection_from_stem
from engine.archive.format import add_member, iter_bson
from engine.archive.manifest import CollectionEntry
from engine.common.errors import SourceError
from engine.common.namespaces import NamespaceFilter
from engine.common.progress import ProgressTracker
from engine.mongo.tools import find_tool, run_tool


def mongodump_into_folder(uri: str, chosen: NamespaceFilter, folder: Path, parallel: int) -> Path:
    """Runs the real mongodump into `folder`. It can narrow to one database only; vaultui applies the rest of
    the namespace filter when it adds the output to the archive."""
    tool = find_tool("mongodump")
    arguments = [f"--out={folder}", f"--numParallelCollections={max(1, parallel)}"]
    if len(chosen.databases) == 1 and not chosen.include:
        arguments.append(f"--db={chosen.databases[0]}")
    run_tool(tool, arguments, uri, "dump")
    return tool


def add_dump_folder(
    tar: tarfile.TarFile,
    folder: Path,
    stamp: str,
    started: datetime,
    chosen: NamespaceFilter,
    tracker: ProgressTracker,
) -> list[CollectionEntry]:
    """Adds a mongodump output folder to the tar under `stamp/`, counting and hashing each .bson file."""
    entries: list[CollectionEntry] = []
    prelude = folder / "prelude.json"
    if prelude.exists():
        with prelude.open("rb") as data:
            add_member(tar, f"{stamp}/prelude.json", data, prelude.stat().st_size, started)
    for database_folder in sorted(path for path in folder.iterdir() if path.is_dir()):
        database = database_folder.name
        for metadata in sorted(database_folder.glob("*.metadata.json")):
            stem = metadata.name.removesuffix(".metadata.json")  # escaped by mongodump: kept as it wrote it
            info = json.loads(metadata.read_text() or "{}")
            try:
                collection = collection_from_stem(stem, NameScheme.ESCAPED, info.get("collectionName"))
            except UndecodableName as error:
                raise SourceError(f"mongodump wrote a file vaultui cannot map back: {error}") from None
            if not chosen.accepts(f"{database}.{collection}"):
                continue
            entry = CollectionEntry(database, collection, info.get("type", "collection"))
            bson_file = database_folder / f"{stem}.bson"
            if bson_file.exists():
                digest = hashlib.sha256()
                with bson_file.open("rb") as data:
                    for batch in iter_bson(data, str(bson_file)):
                        entry.documents += len(batch)
                        for document in batch:
                            digest.update(document)
                entry.bson_bytes = bson_file.stat().st_size
                entry.bson_sha256 = digest.hexdigest()
                with bson_file.open("rb") as data:
                    add_member(tar, f"{stamp}/{database}/{stem}.bson", data, entry.bson_bytes, started)
                tracker.advance(byte_count=entry.bson_bytes, documents=entry.documents, current=entry.namespace)
            with metadata.open("rb") as data:
                add_member(tar, f"{stamp}/{database}/{metadata.name}", data, metadata.stat().st_size, started)
            entries.append(entry)
    return entries
