#!/usr/bin/python3
"""Opens N keep-alive connections to a loopback HTTP server, sends one GET on each, reads each
response completely, then holds every connection open and idle until stdin closes (or SIGTERM).

Prints "ready N" on stdout once N responses have been read, so the caller can measure the
server's memory with N idle keep-alive connections. Connections are opened in waves of at most
--in-flight at a time so the listen backlog never overflows (dropped SYNs would cost 1 s each).

Usage: idle_conns.py PORT N [--path /livez] [--in-flight 256] [--timeout 60]
"""

import argparse
import errno
import selectors
import signal
import socket
import sys
import time


def parse_response(buf):
    """Returns True when buf holds one complete response (Content-Length or chunked body)."""
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        return False
    head = buf[:head_end].decode("latin-1").lower()
    body = buf[head_end + 4:]
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip() == "content-length":
            return len(body) >= int(value.strip())
        if name.strip() == "transfer-encoding" and "chunked" in value:
            return body.endswith(b"0\r\n\r\n")
    return True


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("count", type=int)
    parser.add_argument("--path", default="/livez")
    parser.add_argument("--in-flight", type=int, default=256)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()

    request = (f"GET {args.path} HTTP/1.1\r\nHost: 127.0.0.1:{args.port}\r\n"
               "User-Agent: olympus-bench\r\n\r\n").encode()
    sel = selectors.DefaultSelector()
    pending = {}  # socket -> bytes received so far
    held = []
    opened = 0
    deadline = time.monotonic() + args.timeout

    def open_one():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        err = s.connect_ex(("127.0.0.1", args.port))
        if err not in (0, errno.EINPROGRESS):
            raise OSError(err, f"connect: {errno.errorcode.get(err, err)}")
        pending[s] = None  # None: request not yet sent
        sel.register(s, selectors.EVENT_WRITE)

    while len(held) < args.count:
        if time.monotonic() > deadline:
            print(f"timeout: {len(held)} of {args.count} connections answered", file=sys.stderr)
            return 1
        while opened < args.count and len(pending) < args.in_flight:
            open_one()
            opened += 1
        for key, events in sel.select(timeout=1.0):
            s = key.fileobj
            if pending[s] is None:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    raise OSError(err, f"connect: {errno.errorcode.get(err, err)}")
                s.sendall(request)
                pending[s] = b""
                sel.modify(s, selectors.EVENT_READ)
                continue
            data = s.recv(65536)
            if not data:
                raise ConnectionError(f"server closed a connection after {len(held)} were held")
            pending[s] += data
            if parse_response(pending[s]):
                if not pending[s].startswith(b"HTTP/1.1 200"):
                    raise ConnectionError("unexpected answer: " + pending[s][:64].decode("latin-1"))
                sel.unregister(s)
                del pending[s]
                held.append(s)

    print(f"ready {len(held)}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # Hold until the caller closes our stdin.
    sys.stdin.read()
    for s in held:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
