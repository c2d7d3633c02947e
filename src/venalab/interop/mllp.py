"""MLLP (HL7 v2 Minimal Lower Layer Protocol): framing, a threaded listener, a client.

A frame is <VT> message <FS><CR> (0x0B ... 0x1C 0x0D). The listener answers every frame
with the handler's ACK; bytes outside a frame are skipped, a frame larger than
MAX_FRAME_BYTES is dropped (and answered AR), an idle connection is closed after
IDLE_TIMEOUT seconds. A handler's exception never reaches the socket loop: the handler is
expected to answer AE itself, and the listener logs anything else and answers AE too.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
from collections.abc import Callable

log = logging.getLogger("venalab.hl7")

START = b"\x0b"
END = b"\x1c\x0d"
MAX_FRAME_BYTES = 2 * 1024 * 1024
IDLE_TIMEOUT = 60.0

Handler = Callable[[str], str]


def frame(text: str) -> bytes:
    return START + text.encode("utf-8") + END


def decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # ISO 8859-1 is HL7's other common default


class _Connection(socketserver.BaseRequestHandler):
    server: MllpServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(IDLE_TIMEOUT)
        buf = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, OSError):
                return
            if not chunk:
                return
            buf += chunk
            while True:
                start = buf.find(START)
                if start < 0:
                    buf = b""
                    break
                end = buf.find(END, start)
                if end < 0:
                    buf = buf[start:]
                    if len(buf) > MAX_FRAME_BYTES:
                        log.warning(
                            "MLLP frame over %d bytes from %s dropped",
                            MAX_FRAME_BYTES,
                            self.client_address,
                        )
                        self._reply(
                            self.server.reject(f"message larger than {MAX_FRAME_BYTES} bytes")
                        )
                        buf = b""
                    break
                text = decode(buf[start + 1 : end])
                buf = buf[end + 2 :]
                try:
                    answer = self.server.handler(text)
                except Exception:  # the sender always gets an answer
                    log.exception("HL7 handler failed")
                    answer = self.server.reject("internal error", code="AE", original=text)
                if not self._reply(answer):
                    return

    def _reply(self, text: str) -> bool:
        try:
            self.request.sendall(frame(text))
            return True
        except OSError:
            return False


class MllpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: Handler,
        reject: Callable[..., str],
    ) -> None:
        super().__init__(address, _Connection)
        self.handler = handler
        self.reject = reject


def serve(address: tuple[str, int], handler: Handler, reject: Callable[..., str]) -> MllpServer:
    """Start a listener in a background thread; `.shutdown()` and `.server_close()` stop it."""
    server = MllpServer(address, handler, reject)
    thread = threading.Thread(target=server.serve_forever, name="mllp", daemon=True)
    thread.start()
    return server


def send(host: str, port: int, text: str, timeout: float = 10.0) -> str:
    """Send one message and return the acknowledgement text (OSError when unreachable)."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(frame(text))
        buf = b""
        while END not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed before the acknowledgement")
            buf += chunk
            if len(buf) > MAX_FRAME_BYTES:
                raise ConnectionError("acknowledgement too large")
    start = buf.find(START)
    return decode(buf[start + 1 : buf.find(END)])
