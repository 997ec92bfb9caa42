"""The real mongo tools (mongodump, mongorestore) as child processes: finding them, their version, and running
one with the URI's credentials in a config file, never on the command line. What backup and restore do with
them is engine.backup.mongodump and engine.restore.mongorestore."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from engine.common.config import in_force
from engine.common.errors import ConfigError, SourceError
from engine.common.redact import scrub


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
