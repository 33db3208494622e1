"""A tiny backend for the demo and the tests: answers every GET with its name.

Run as `python -m portus.demo.backend NAME PORT [BIND [udp | CERT [CA]]]`. With `udp`
it answers every datagram on PORT instead, with the same text. With CERT (a PEM
holding certificate and key) it serves HTTPS; with CA too, it requires a client
certificate signed by that CA (what a re-encrypting pool with a client certificate
talks to)."""
from __future__ import annotations

import socket
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def make_handler(name: str) -> type[BaseHTTPRequestHandler]:
    body = f"hello from {name}\n".encode()

    class Handler(BaseHTTPRequestHandler):
        # One write per response: without it Nagle + delayed ACK add ~40 ms per request.
        disable_nagle_algorithm = True
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Backend", name)
            self.end_headers()
            self.wfile.write(body)

        do_HEAD = do_GET

        def log_message(self, *_args: object) -> None:
            pass

    return Handler


def serve_udp(name: str, bind: str, port: int) -> None:
    body = f"hello from {name}\n".encode()
    with socket.socket(socket.AF_INET6 if ":" in bind else socket.AF_INET,
                       socket.SOCK_DGRAM) as sock:
        sock.bind((bind, port))
        while True:
            _, peer = sock.recvfrom(2048)
            sock.sendto(body, peer)


def main(argv: list[str]) -> int:
    name, port = argv[0], int(argv[1])
    bind = argv[2] if len(argv) > 2 else "0.0.0.0"
    if argv[3:] == ["udp"]:
        serve_udp(name, bind, port)
        return 0
    server = ThreadingHTTPServer((bind, port), make_handler(name))
    server.daemon_threads = True
    if len(argv) > 3:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(argv[3])
        if len(argv) > 4:
            ctx.load_verify_locations(cafile=argv[4])
            ctx.verify_mode = ssl.CERT_REQUIRED
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
