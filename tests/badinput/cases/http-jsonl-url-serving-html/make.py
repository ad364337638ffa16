"""Serve an HTML page at /data.jsonl from a thread in the test process and point the source at it."""
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Html(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<!doctype html><html><body>Sign in</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

def make(folder):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Html)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/data.jsonl"
    (folder / "annoflow.toml").write_text(f'name = "bad-input"\nlabels = ["ham", "spam"]\n[[sources]]\npath = "{url}"\n')
