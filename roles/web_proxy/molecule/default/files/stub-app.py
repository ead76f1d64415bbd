"""A stand-in for the middleware: answers every request with who served it, what it was asked
and the X-Request-Id it received (JSON)."""

import json
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Echo(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        answer = {
            "served_by": socket.gethostname(),
            "method": self.command,
            "path": self.path,
            "body": body,
            "x_request_id": self.headers.get("X-Request-Id"),
            "x_forwarded_proto": self.headers.get("X-Forwarded-Proto"),
            "x_client_subject": self.headers.get("X-Client-Subject"),
            "x_client_role": self.headers.get("X-Client-Role"),
        }
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = _answer
    do_POST = _answer


ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), Echo).serve_forever()
