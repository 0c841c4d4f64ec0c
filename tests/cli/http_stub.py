#!/usr/bin/env python3
"""A stand-in HTTP server on 127.0.0.1 for the `advgnn sync` failure checks
(sync_stop_check.sh). It responds to every request with one status and prints
its port on the first line of standard output.

usage: http_stub.py STATUS [html|json]
  html  an HTML page, as `python3 -m http.server` sends with its 501
  json  MLflow's error body {"error_code": ..., "message": ...}
"""
import http.server
import sys


def main():
    status = int(sys.argv[1])
    kind = sys.argv[2] if len(sys.argv) > 2 else "html"

    class Handler(http.server.BaseHTTPRequestHandler):
        def respond(self):
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            if kind == "json":
                body = b'{"error_code": "TEMPORARILY_UNAVAILABLE", "message": "stub"}'
                content_type = "application/json"
            else:
                body = b"<!DOCTYPE HTML>\n<html><body>stub</body></html>\n"
                content_type = "text/html"
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = respond

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
