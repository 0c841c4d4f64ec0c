#!/usr/bin/env python3
"""Fault-injecting HTTP proxy for the tracking tests, on 127.0.0.1 only.

Forwards requests to an upstream MLflow server (also on 127.0.0.1) and applies
a fault plan set by the test. With --tls-cert it serves HTTPS, and with
--tls-client-ca it also requires a client certificate. Prints its port on the first line of stdout once
it listens, and exits after --max-seconds.

Control endpoints (never forwarded):
  POST /__proxy/plan   body: JSON array of rules, replacing the plan
  GET  /__proxy/log    JSON array, one entry per proxied request

A rule applies to requests whose path contains "path" (default: all) and,
when given, whose method equals "method". Its "count" is the number of requests
it applies to (-1: all). Actions:
  {"action": "status", "status": 503, "retry_after": 1, "forward": false}
      respond with this status and an MLflow-style JSON error; with
      "forward": true the request reaches the server first (its response is lost).
  {"action": "delay", "seconds": 3}
      forward, then hold the response back for that long.
  {"action": "auth", "basic": "user:password"} or {"action": "auth", "token": "t"}
      respond 401 unless the Authorization header matches (count is not used up).
"""

import argparse
import base64
import http.client
import json
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATE_LOCK = threading.Lock()
PLAN = []
LOG = []
UPSTREAM = None


def take_rule(method, path):
    """Returns the first rule matching the request, using up one of its count."""
    with STATE_LOCK:
        for rule in PLAN:
            if rule.get("path", "") not in path:
                continue
            if rule.get("method") and rule["method"] != method:
                continue
            if rule.get("action") == "auth":
                return rule
            count = rule.get("count", -1)
            if count == 0:
                continue
            if count > 0:
                rule["count"] = count - 1
            return rule
    return None


def auth_matches(rule, header):
    if "basic" in rule:
        expected = "Basic " + base64.b64encode(rule["basic"].encode()).decode()
    else:
        expected = "Bearer " + rule.get("token", "")
    return header == expected


def count_metrics(path, body):
    if "log-batch" not in path:
        return 0
    try:
        return len(json.loads(body or b"{}").get("metrics", []))
    except ValueError:
        return -1


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # keep the test output clean
        pass

    def _read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _reply(self, status, body, content_type="application/json", extra=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _forward(self, body):
        conn = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=60)
        headers = {}
        for name in ("Content-Type", "Accept"):
            if self.headers.get(name):
                headers[name] = self.headers[name]
        conn.request(self.command, self.path, body=body if body else None, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        content_type = resp.getheader("Content-Type", "application/json")
        conn.close()
        return resp.status, data, content_type

    def _control(self, body):
        global PLAN
        if self.path == "/__proxy/plan" and self.command == "POST":
            with STATE_LOCK:
                PLAN = json.loads(body or b"[]")
            self._reply(200, b"{}")
        elif self.path == "/__proxy/log":
            with STATE_LOCK:
                data = json.dumps(LOG).encode()
            self._reply(200, data)
        else:
            self._reply(404, b'{"error_code": "NOT_FOUND", "message": "unknown control path"}')

    def _handle(self):
        body = self._read_body()
        if self.path.startswith("/__proxy/"):
            self._control(body)
            return

        authorization = self.headers.get("Authorization") or ""
        entry = {
            "time": time.time(),
            "method": self.command,
            "path": self.path,
            "content_type": self.headers.get("Content-Type"),
            "origin": self.headers.get("Origin"),
            "auth_scheme": authorization.split(" ")[0] if authorization else None,
            "metrics": count_metrics(self.path, body),
            "body_bytes": len(body),
        }
        # Logged on arrival, so a test can see a request that is still held.
        with STATE_LOCK:
            LOG.append(entry)
        rule = take_rule(self.command, self.path)
        action = rule.get("action") if rule else None

        try:
            if action == "auth" and not auth_matches(rule, authorization):
                entry["answer"] = 401
                self._reply(401, b'{"error_code": "UNAUTHENTICATED", "message": "invalid credentials"}')
            elif action == "status":
                if rule.get("forward"):
                    self._forward(body)
                status = int(rule.get("status", 503))
                extra = {}
                if "retry_after" in rule:
                    extra["Retry-After"] = str(rule["retry_after"])
                entry["answer"] = status
                message = json.dumps({"error_code": "TEMPORARILY_UNAVAILABLE", "message": "injected fault"})
                self._reply(status, message.encode(), extra=extra)
            else:
                status, data, content_type = self._forward(body)
                if action == "delay":
                    time.sleep(float(rule.get("seconds", 1)))
                entry["answer"] = status
                self._reply(status, data, content_type)
        except (BrokenPipeError, ConnectionResetError):
            entry["answer"] = "client gone"

    do_GET = _handle
    do_POST = _handle
    do_PUT = _handle
    do_PATCH = _handle
    do_DELETE = _handle


def main():
    global UPSTREAM
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="MLflow server URI on 127.0.0.1")
    parser.add_argument("--max-seconds", type=float, default=600, help="exit after this many seconds")
    parser.add_argument("--tls-cert", help="serve HTTPS with this PEM certificate (key included)")
    parser.add_argument("--tls-client-ca", help="with --tls-cert: require client certificates signed by this PEM")
    args = parser.parse_args()

    UPSTREAM = urllib.parse.urlparse(args.upstream)
    if UPSTREAM.hostname not in ("127.0.0.1", "localhost"):
        sys.exit("fault_proxy.py: the upstream must be on 127.0.0.1")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert)
        if args.tls_client_ca:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(args.tls_client_ca)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    timer = threading.Timer(args.max_seconds, server.shutdown)
    timer.daemon = True
    timer.start()
    server.serve_forever()


if __name__ == "__main__":
    main()
