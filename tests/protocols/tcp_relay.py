"""Test utility: a loopback TCP relay that records what two real peers exchange.

The client connects to ``relay.port``; the relay connects to the server and copies bytes
both ways, keeping each chunk with its direction in arrival order (like a reassembled
capture, without packets), one list per connection.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from types import TracebackType

ORIG, RESP = 0, 1


class TcpRelay:
    def __init__(self, server_port: int) -> None:
        self.server_port = server_port
        self.connections: list[list[tuple[int, bytes]]] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._accept = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> TcpRelay:
        self._accept.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.wait()
        self._listener.close()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.server_port))
            self._sockets += [client, server]
            chunks: list[tuple[int, bytes]] = []
            self.connections.append(chunks)
            for direction, src, dst in ((ORIG, client, server), (RESP, server, client)):
                args = (chunks, direction, src, dst)
                t = threading.Thread(target=self._pump, args=args, daemon=True)
                t.start()
                self._threads.append(t)

    def _pump(
        self,
        chunks: list[tuple[int, bytes]],
        direction: int,
        src: socket.socket,
        dst: socket.socket,
    ) -> None:
        try:
            while data := src.recv(65536):
                with self._lock:
                    chunks.append((direction, data))
                dst.sendall(data)
        except OSError:
            pass
        finally:
            # Pass the half-close on; the other direction may still be talking.
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

    def wait(self, timeout: float = 10.0) -> None:
        """Until every relayed connection closed both ways."""
        deadline = time.monotonic() + timeout
        time.sleep(0.05)
        for t in list(self._threads):
            t.join(max(0.0, deadline - time.monotonic()))
        for sock in self._sockets:
            sock.close()
