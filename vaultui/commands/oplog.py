"""`oplog`: the continuous oplog capture (point-in-time recovery's input), with its metrics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from engine.common.config import source_uri
from engine.common.errors import ConfigError
from vaultui.commands.context import CommandOptions, Context
from vaultui.exit_codes import ExitCode
from vaultui.formatting import gaps_text
from vaultui.output import log_event

if TYPE_CHECKING:  # the heavy engine modules (MongoDB driver, codecs) load inside the commands that use them
    from engine.pitr.capture import CaptureStats


@dataclass(frozen=True)
class Options(CommandOptions):
    """The flags of `oplog` (the settings they set are resolved into the context's Settings)."""

    flush_mib: float = 64.0
    flush_seconds: float = 60.0
    mongo_uri_file: Path | None = None
    once: bool = False


def run(options: Options, context: Context) -> ExitCode:
    from engine.mongo.connect import connect
    from engine.pitr.capture import CaptureStats, capture
    from engine.pitr.store import ChunkManifest, timestamp_time

    storage = context.storage()
    uri = source_uri(options.mongo_uri_file)
    if not uri:
        raise ConfigError("no source MongoDB URI: set VAULTUI_MONGO_URI or pass --mongo-uri-file")
    client = connect(uri, role="source")
    log_event("oplog.started", storage=storage.url)
    latest = CaptureStats()

    def flushed(chunk: ChunkManifest, stats: CaptureStats) -> None:
        nonlocal latest
        latest = stats
        log_event(
            "oplog.chunk",
            chunk=chunk.chunk,
            entries=chunk.count,
            bytes=chunk.bytes,
            up_to=f"{timestamp_time(chunk.last_ts):%Y-%m-%dT%H:%M:%SZ}",
            lag_seconds=round(stats.lag_seconds, 1),
        )
        _publish_capture(options, context, stats)

    stopped = ""
    try:
        latest = capture(
            client,
            storage,
            flush_seconds=options.flush_seconds,
            flush_bytes=int(options.flush_mib * 1024 * 1024),
            once=options.once,
            on_flush=flushed,
            recipients=context.settings.age_recipients,
        )
    except KeyboardInterrupt:
        stopped = " (stopped)"  # SIGTERM is how its Deployment stops it: what it held was committed first
    finally:
        client.close()
    log_event("oplog.stopped", chunks=latest.chunks, entries=latest.entries, gaps=latest.gaps, lag=latest.lag_seconds)
    found = gaps_text(latest.gaps)
    print(f"captured {latest.entries} oplog entries in {latest.chunks} chunks ({found} found){stopped}")
    return ExitCode.OK


def _publish_capture(options: Options, context: Context, stats: CaptureStats) -> None:
    """The capture's own figures, after each chunk, where metrics are asked for (a textfile or a gateway)."""
    from engine.sla.metrics import capture_registry

    registry = capture_registry(
        context.metric_labels(), datetime.now(UTC), stats.lag_seconds, stats.entries, stats.bytes, stats.gaps
    )
    context.push(registry, job="vaultui-oplog")
