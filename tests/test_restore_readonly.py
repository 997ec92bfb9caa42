"""A restore from read-only storage (the restore-at-start sidecar mounts the backup volume read-only): the
restore's own outcome decides, the missing ledger record is one warning. And the URI handed to the real
tools never touches the disk."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pymongo

from engine.backup.run import BackupOptions, run_backup
from engine.common.namespaces import NamespaceFilter
from engine.common.remap import Rename
from engine.mongo.tools import uri_config
from engine.restore.request import RestoreRequest
from engine.restore.run import run_restore
from engine.storage import AtomicWriter, Storage, open_storage
from engine.storage.errors import AccessDenied
from tests.helpers import raw_documents, seed


class ReadOnlyStorage:
    """A real storage that refuses every write, as a read-only mount does."""

    def __init__(self, real: Storage) -> None:
        self.real = real

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)

    def open_write(self, key: str) -> AtomicWriter:
        raise AccessDenied(f"no permission to write {key}: the volume is mounted read-only")


def test_a_restore_from_read_only_storage_succeeds_with_one_warning(
    mongo_client: pymongo.MongoClient, mongo_uri: str, database_name: str, tmp_path: Path
) -> None:
    seed(mongo_client, database_name, {"orders": 300})
    storage = open_storage(str(tmp_path))
    name = run_backup(
        storage, mongo_uri, BackupOptions(namespaces=NamespaceFilter(databases=(database_name,)))
    ).manifest.archive
    target = f"{database_name}_ro"
    request = RestoreRequest(archive=name, renames=(Rename(f"{database_name}.*", f"{target}.*"),))
    result = run_restore(ReadOnlyStorage(storage), mongo_uri, request)  # type: ignore[arg-type]
    assert result.status == "restored" and result.documents == 300
    [warning] = result.warnings
    assert "was not recorded in the ledger" in warning and "read-only" in warning
    assert raw_documents(mongo_client[target]["orders"]) == raw_documents(mongo_client[database_name]["orders"])


def test_the_tool_uri_lives_in_memory_only() -> None:
    with uri_config("mongodb://user:s3cret@db:27017/") as (path, inherited):
        assert path.startswith("/dev/fd/") and inherited
        assert Path(path).read_text() == 'uri: "mongodb://user:s3cret@db:27017/"\n'
        # nothing on disk that a SIGKILL could leave behind
        assert not [name for name in os.listdir(tempfile.gettempdir()) if name.startswith("vaultui-tool-")]
