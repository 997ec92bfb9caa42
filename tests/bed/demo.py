"""`make demo`: FerretDB with a sample database, ~100 nights of real archives made by the engine under an
injected clock (some failed, some missed, one held, some past 90 days), then the dashboard on all of it.
FerretDB keeps an oplog here, so the demo also makes today's base archive, captures the oplog while the
dashboard runs (a chunk every 10 s) and writes an order every few seconds: the compliance view's timeline
shows the restorable time grow, and `t` restores the shop to any second of it."""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pymongo

from engine.archive.holds import place_hold
from engine.backup.run import BackupOptions, run_backup
from engine.common.errors import VaultError
from engine.common.namespaces import NamespaceFilter
from engine.pitr.capture import capture
from engine.storage import open_storage
from tests.bed import servers

DEMO_HOME = Path.home() / ".cache" / "vaultui-demo"
SAMPLE = "shop"


def seed_sample(client: pymongo.MongoClient, customers: int = 300) -> None:
    """A small shop: customers, orders referring to them, an index or two."""
    database = client[SAMPLE]
    if database["customers"].estimated_document_count():
        return
    chance = random.Random(7)
    database["customers"].insert_many(
        [
            {
                "_id": index,
                "name": f"customer {index}",
                "city": chance.choice(["Lyon", "Oslo", "Porto", "Tartu"]),
                "since": datetime(2024, 1, 1) + timedelta(days=index),
            }
            for index in range(customers)
        ]
    )
    database["orders"].insert_many(
        [
            {
                "customer": chance.randrange(customers),
                "total": round(chance.uniform(5, 500), 2),
                "items": [
                    {"sku": f"SKU-{chance.randrange(90)}", "quantity": chance.randint(1, 4)}
                    for _ in range(chance.randint(1, 3))
                ],
            }
            for _ in range(customers * 4)
        ]
    )
    database["orders"].create_index([("customer", 1)], name="customer_1")
    database["customers"].create_index([("city", 1), ("name", 1)], name="city_name")


def frozen_clock(start: datetime) -> Callable[[], datetime]:
    """A clock that starts at `start` and advances with real time: runs keep realistic durations."""
    origin = datetime.now(UTC)
    return lambda: start + (datetime.now(UTC) - origin)


def make_history(
    storage_url: str,
    uri: str,
    now: datetime,
    days: int = 100,
    failed: tuple[int, ...] = (3, 17, 41, 66),
    missed: tuple[int, ...] = (9, 52, 88),
    late: tuple[int, ...] = (24,),
    held: int = 30,
    report: Callable[[str], None] = print,
) -> None:
    """One nightly backup per day for `days` days up to yesterday, through the real engine. Days are
    counted back from `now` (1 = last night): `failed` nights fail against an unreachable server,
    `missed` nights have no run, `late` ones start at 05:40, `held` gets an incident hold."""
    storage = open_storage(storage_url)
    unreachable = f"mongodb://127.0.0.1:{servers.free_port()}/"
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    for back in range(days, 0, -1):
        if back in missed:
            continue
        start = (
            midnight
            - timedelta(days=back)
            + (timedelta(hours=5, minutes=40) if back in late else timedelta(seconds=12))
        )
        try:
            result = run_backup(
                storage,
                unreachable if back in failed else uri,
                BackupOptions(connect_timeout=0.5, namespaces=NamespaceFilter(databases=(SAMPLE,))),
                clock=frozen_clock(start),
            )
            folder = Path(storage_url)
            if folder.is_dir():  # written now, but on the night it stands for: the storage's times agree
                written = (start + timedelta(seconds=result.manifest.duration_seconds)).timestamp()
                for name in (result.manifest.archive, result.manifest.archive + ".manifest.json"):
                    os.utime(folder / name, (written, written))
            if back == held:
                place_hold(
                    storage,
                    result.manifest.archive,
                    "incident 2026-10: keep for the post-mortem",
                    clock=frozen_clock(start + timedelta(hours=9)),
                )
        except VaultError as error:
            report(f"  night -{back}: failed as planned ({str(error)[:60]}…)")
    report(f"demo: {days} nights of archives in {storage_url}")


@contextlib.contextmanager
def live_oplog(url: str, storage_url: str) -> Iterator[None]:
    """The shop's oplog captured into the storage, and a trickle of orders, while the dashboard runs."""
    client: pymongo.MongoClient = pymongo.MongoClient(url)
    if "oplog.rs" not in client.local.list_collection_names():
        client.local.create_collection("oplog.rs", capped=True, size=64 * 1024 * 1024)
    storage = open_storage(storage_url)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if not any(name.startswith(f"{today:%Y%m%d}T") for name in os.listdir(storage_url)):
        run_backup(storage, url, BackupOptions(namespaces=NamespaceFilter(databases=(SAMPLE,))))  # today's base
    stop = threading.Event()

    def orders() -> None:
        number = 0
        while not stop.wait(3.0):
            number += 1
            client[SAMPLE].orders.insert_one({"demo_order": number, "at": datetime.now(UTC), "total": number * 7})

    def tail() -> None:
        with contextlib.suppress(VaultError), pymongo.MongoClient(url) as tailer:
            capture(tailer, storage, flush_seconds=10.0, stop=stop)

    threads = [threading.Thread(target=orders, daemon=True), threading.Thread(target=tail, daemon=True)]
    for thread in threads:
        thread.start()
    try:
        yield None
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fresh", action="store_true", help="throw away the demo's data and start again")
    options = parser.parse_args()
    backups, data = DEMO_HOME / "backups", DEMO_HOME / "ferretdb"
    if options.fresh:
        import shutil

        shutil.rmtree(DEMO_HOME, ignore_errors=True)
    backups.mkdir(parents=True, exist_ok=True)
    print("demo: starting FerretDB (the MongoDB stand-in) …")
    server = servers.start_ferretdb(data_dir=data)
    try:
        with pymongo.MongoClient(server.url) as client:  # closed: open clients slow the exit down
            seed_sample(client)
        if not any(backups.iterdir()):
            print("demo: making ~100 nights of archives with the real engine (about a minute, once) …")
            make_history(str(backups), server.url, datetime.now(UTC))
        from vaultui.app import make_app
        from vaultui.settings import AppSettings

        settings = AppSettings(
            storage_url=str(backups), source_uri=server.url, targets={"ferretdb": server.url}, drill_uri=server.url
        )
        print(f"demo: storage {backups}; FerretDB at {server.url} (the restore target 'ferretdb')")
        print(f"demo: the CLI on the same data: VAULTUI_STORAGE={backups} .venv/bin/vaultui --headless status")
        with live_oplog(server.url, str(backups)):
            make_app(settings).run()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
