"""A TCP proxy on loopback that cuts connections the way a flaky network does: after a connection has carried
`reset_after` bytes towards the client, it is reset (RST, not a clean close), `resets` times in all (-1: every
time); with `dead_after`, the network then stays down (every connection reset at its first byte). Put in
front of the S3 server, it makes real dropped connections in the middle of an object's body."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from dataclasses import dataclass, field


@dataclass
class FaultyProxy:
    upstream_port: int
    reset_after: int = 256 * 1024
    resets: int = 0
    dead_after: bool = False  # once the resets are done, every later connection is reset at its first byte
    port: int = 0
    resets_done: int = 0
    _server: socket.socket | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultyProxy:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    def _accept(self) -> None:
        assert self._server is not None
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _dead(self) -> bool:
        """The network is down: every connection is reset before a byte gets through."""
        with self._lock:
            return self.dead_after and 0 <= self.resets <= self.resets_done

    def _should_reset(self, carried: int) -> bool:
        with self._lock:
            if carried < self.reset_after or self.resets == 0 or (0 <= self.resets <= self.resets_done):
                return False
            self.resets_done += 1
            return True

    def _pump(self, source: socket.socket, sink: socket.socket, towards_client: bool) -> None:
        carried = 0
        try:
            while data := source.recv(65536):
                if towards_client and self._dead():  # nothing passes, not even this connection's first bytes
                    sink.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    break
                sink.sendall(data)
                carried += len(data)
                if towards_client and self._should_reset(carried):
                    sink.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    break
        except OSError:
            pass
        finally:
            # shutdown() first: it wakes the other direction's recv() at once (a close() alone would wait for it).
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    end.close()
