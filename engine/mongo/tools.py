"""The real mongodump and mongorestore, run as child processes when asked for (the old, trusted way)."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.archive.catalog import ArchiveEntry
from engine.archive.collection_files import NameScheme, UndecodableName, collection_from_stem, collection_stem
from engine.archive.format import (
    MemberPath,
    add_member,
    check_member,
    iter_bson,
    members,
    open_archive_stream,
    tar_reader,
)
from engine.archive.manifest import CollectionEntry
from engine.common.config import in_force
from engine.common.errors import ConfigError, SourceError
from engine.common.progress import ProgressTracker
from engine.common.redact import scrub
from engine.mongo.connect import NamespaceFilter
from engine.mongo.remap import split_namespace
from engine.storage import Storage

if TYPE_CHECKING:
    from engine.restore.load import LoadItem
    from engine.restore.run import RestoreRequest


def find_tool(name: str) -> Path:
    """The tool on PATH, or in VAULTUI_MONGO_TOOLS (a folder) when set."""
    folder = in_force().mongo_tools
    found = shutil.which(name, path=folder) if folder else None
    found = found or shutil.which(name)
    if not found:
        raise ConfigError(
            f"{name} not found on PATH: install the MongoDB Database Tools (or set VAULTUI_MONGO_TOOLS "
            f"to their folder), or use the native {'dumper' if name == 'mongodump' else 'loader'}"
        )
    return Path(found)


def tool_version(path: Path) -> str:
    try:
        output = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    first = output.splitlines()[0] if output else ""
    return first.rsplit(" ", 1)[-1] if first else "unknown"


@contextlib.contextmanager
def uri_config(uri: str) -> Iterator[tuple[str, tuple[int, ...]]]:
    """The tool's --config path holding the URI, and the descriptors the child must inherit. Never argv (a
    process list is public) and never a file on disk (a SIGKILL would leave the password behind): an
    anonymous in-memory file (memfd) the child reads as /dev/fd/N, gone with the last process holding it."""
    text = f"uri: {json.dumps(uri)}\n".encode()  # a JSON string is a valid YAML double-quoted scalar
    if hasattr(os, "memfd_create"):
        descriptor = os.memfd_create("vaultui-tool-config", 0)  # not inheritable except through pass_fds
        try:
            os.write(descriptor, text)
            os.lseek(descriptor, 0, os.SEEK_SET)
            yield f"/dev/fd/{descriptor}", (descriptor,)
        finally:
            os.close(descriptor)
        return
    handle, name = tempfile.mkstemp(prefix="vaultui-tool-", suffix=".yaml")  # systems without memfd
    try:
        with os.fdopen(handle, "wb") as config:
            config.write(text)
        yield name, ()
    finally:
        Path(name).unlink(missing_ok=True)


def run_tool(path: Path, arguments: list[str], uri: str, role: str) -> str:
    """Runs a mongo tool with the URI handed over privately; returns its log, raises with its last line."""
    with uri_config(uri) as (config, inherited):
        completed = subprocess.run(
            [str(path), f"--config={config}", *arguments],
            capture_output=True,
            text=True,
            check=False,
            pass_fds=inherited,
        )
    log = scrub(completed.stderr + completed.stdout, [uri])
    if completed.returncode != 0:
        last = next((line for line in reversed(log.splitlines()) if line.strip()), "no output")
        raise SourceError(f"{path.name} failed ({role}, exit {completed.returncode}): {last.split(chr(9))[-1]}")
    return log


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
                    stream = gzip.GzipFile(fileobj=stream)
                with path.open("wb") as out:
                    shutil.copyfileobj(stream, out, 1 << 20)
    return folder / entry.ref.stamp


def mongorestore_archive(
    storage: Storage, entry: ArchiveEntry, scratch: Path, uri: str, items: list[LoadItem], request: RestoreRequest
) -> int:
    """Restores through the real mongorestore (it needs the files on disk); returns the documents it restored."""
    tool = find_tool("mongorestore")
    dump = extract_for_mongorestore(storage, entry, scratch, items)
    arguments = [
        f"--dir={dump}",
        f"--numParallelCollections={request.parallel}",
        f"--numInsertionWorkersPerCollection={request.insert_workers}",
        *(f"--nsInclude={item.source}" for item in items),
    ]
    for pair in request.renames:
        arguments += [f"--nsFrom={pair.source}", f"--nsTo={pair.target}"]
    if request.mode == "drop":
        arguments.append("--drop")
    if not request.indexes:
        arguments.append("--noIndexRestore")
    log = run_tool(tool, arguments, uri, "restore")
    restored = re.search(r"(\d+) document\(s\) restored successfully", log)
    return int(restored.group(1)) if restored else 0
