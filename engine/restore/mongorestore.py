"""Restoring with the real mongorestore (the `mongorestore` loader): the chosen namespaces' files, already
verified, are unpacked under the names mongodump gives them, and mongorestore loads that folder."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from engine.archive.catalog import ArchiveEntry
from engine.archive.collection_files import collection_stem
from engine.archive.format import MemberPath, check_member, members, open_archive_stream, tar_reader
from engine.archive.gzip_codec import gzip_reader
from engine.common.remap import split_namespace
from engine.common.states import RestoreMode
from engine.mongo.tools import find_tool, run_tool
from engine.restore.context import RestoreRun
from engine.restore.load import LoadItem
from engine.storage import Storage


def extract_for_mongorestore(storage: Storage, entry: ArchiveEntry, folder: Path, items: list[LoadItem]) -> Path:
    """Unpacks the chosen namespaces' files (already verified safe) into `folder` under the names mongodump
    would give them, whatever naming the archive used; returns the dump folder."""
    chosen = {item.member_key: item for item in items}
    with storage.open_read(entry.name) as raw:
        with open_archive_stream(entry.ref, raw) as plain, tar_reader(plain) as tar:
            for member in members(tar, entry.name):
                where = check_member(member, entry.name)
                if not isinstance(where, MemberPath) or (item := chosen.get((where.database, where.stem))) is None:
                    continue
                suffix = "bson" if where.kind == "bson" else "metadata.json"
                stem = collection_stem(split_namespace(item.source)[1])
                path = folder / where.stamp / where.database / f"{stem}.{suffix}"
                path.parent.mkdir(parents=True, exist_ok=True)
                stream: Any = tar.extractfile(member)
                assert stream is not None
                if where.gzipped:  # written plain, so mongorestore needs no --gzip (its flag is all or none)
                    stream = gzip_reader(stream)
                with path.open("wb") as out:
                    shutil.copyfileobj(stream, out, 1 << 20)
    return folder / entry.ref.stamp


def mongorestore_archive(run: RestoreRun, entry: ArchiveEntry, scratch: Path, items: list[LoadItem]) -> int:
    """Restores through the real mongorestore (it needs the files on disk) in the run's mode; returns the
    documents it restored."""
    request = run.request
    tool = find_tool("mongorestore")
    dump = extract_for_mongorestore(run.storage, entry, scratch, items)
    arguments = [
        f"--dir={dump}",
        f"--numParallelCollections={request.parallel}",
        f"--numInsertionWorkersPerCollection={request.insert_workers}",
        *(f"--nsInclude={item.source}" for item in items),
    ]
    for pair in request.renames:
        arguments += [f"--nsFrom={pair.source}", f"--nsTo={pair.target}"]
    if run.mode == RestoreMode.DROP:
        arguments.append("--drop")
    if not request.indexes:
        arguments.append("--noIndexRestore")
    log = run_tool(tool, arguments, run.target_uri, "restore")
    restored = re.search(r"(\d+) document\(s\) restored successfully", log)
    return int(restored.group(1)) if restored else 0
