#!/usr/bin/python3
"""A local stand-in for the Open Images servers, for test_download.sh.

usage: oi_server.py ROOT PORTFILE LOGFILE

Serves the files under ROOT on 127.0.0.1 at an ephemeral port, which it writes
to PORTFILE once it listens. Every request is appended to LOGFILE as
"GET /path". Some names misbehave on purpose:
  *slow*   sends the headers and half the body, waits 1.5 s, sends the rest;
  *drop*   the first request gets the headers and half the body, then the
           connection is closed; later requests get the whole file;
  *flaky*  the first request gets a 503;
and a missing file is a 404, as on the real servers.
"""
import http.server
import os
import socketserver
import sys
import threading
import time

root, portfile, logfile = sys.argv[1:4]
root = os.path.abspath(root)
seen = set()
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: the log file is what the test reads
        pass

    def do_GET(self):
        path = self.path.split("?")[0]
        with lock:
            first = path not in seen
            seen.add(path)
            with open(logfile, "a") as f:
                f.write(f"GET {path}\n")
        full = os.path.normpath(os.path.join(root, path.lstrip("/")))
        if not full.startswith(os.path.abspath(root)) or not os.path.isfile(full):
            body = b"not found\n"
            self.send_response(404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if "flaky" in path and first:
            body = b"try later\n"
            self.send_response(503)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        with open(full, "rb") as f:
            data = f.read()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        half = len(data) // 2
        if "drop" in path and first:
            self.wfile.write(data[:half])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if "slow" in path:
            self.wfile.write(data[:half])
            self.wfile.flush()
            time.sleep(1.5)
            self.wfile.write(data[half:])
            return
        self.wfile.write(data)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


srv = Server(("127.0.0.1", 0), Handler)
tmp = portfile + ".tmp"
with open(tmp, "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(tmp, portfile)
srv.serve_forever()
