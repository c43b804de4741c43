"""A TCP proxy on 127.0.0.1 for tests that cut a client's connections to a server (F27).

Owns its listening socket, the proxied socket pairs and one thread per direction. ``cut()``
closes both sockets of every open pair at once, as a dropped network path or a server that
went away would; later connections are proxied again unless ``refuse`` is set. ``arm(pattern,
extra)`` holds the client-to-server stream of the first connection that sends ``pattern``,
``extra`` bytes after it (``held`` is set), until ``release()`` or ``cut()``: a test strikes
at a chosen point of a protocol conversation without racing it. Bytes are only searched
and counted, never changed.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class TcpProxy:
    """Forwards every connection to ``127.0.0.1:<port>`` on to ``upstream`` (host, port)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.refuse = False  # True: accepted connections are closed at once (the server is "gone")
        self.accepted = 0
        self.cuts = 0
        self.bytes_up = 0  # client -> server
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._closed = False
        self._pattern: bytes | None = None
        self._extra = 0
        self._fired = False
        self.held = threading.Event()
        self._resume = threading.Event()
        self._resume.set()
        threading.Thread(target=self._accept, name="tcp-proxy-accept", daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.refuse:
                client.close()
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self.accepted += 1
                self._pairs.append((client, server))
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def arm(self, pattern: bytes, extra: int) -> None:
        """Hold the client-to-server stream ``extra`` bytes after the first ``pattern`` any connection sends."""
        with self._lock:
            self._pattern, self._extra, self._fired = pattern, extra, False
            self.held.clear()

    def release(self) -> None:
        """Let a held stream flow again."""
        self._resume.set()

    def _pump(self, source: socket.socket, target: socket.socket, up: bool) -> None:
        tail = b""  # the last bytes of the previous chunk, for a pattern split across chunks
        countdown: int | None = None  # bytes still to forward before holding (this connection fired)
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if up:
                    with self._lock:
                        self.bytes_up += len(data)
                        pattern = None if self._fired else self._pattern
                        if pattern is not None:
                            found = (tail + data).find(pattern)
                            if found >= 0:
                                self._fired = True
                                self._resume.clear()
                                countdown = max(found + len(pattern) - len(tail), 0) + self._extra
                            else:
                                tail = (tail + data)[-(len(pattern) - 1):] if len(pattern) > 1 else b""
                    if countdown is not None:
                        if len(data) >= countdown:
                            target.sendall(data[:countdown])
                            data, countdown = data[countdown:], None
                            self.held.set()
                            self._resume.wait()
                        else:
                            countdown -= len(data)
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def open_connections(self) -> int:
        """Pairs not cut yet (some may have been closed by their ends)."""
        with self._lock:
            return len(self._pairs)

    def cut(self) -> int:
        """Close both sockets of every proxied connection now; returns how many were cut."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
            self.cuts += 1
        for pair in pairs:
            for sock in pair:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()
        self._resume.set()  # only now: a held pump wakes up to find its sockets closed, forwarding nothing more
        return len(pairs)

    def close(self) -> None:
        """Stop accepting and cut what is open."""
        self._closed = True
        with contextlib.suppress(OSError):
            self.listener.close()
        self.cut()
