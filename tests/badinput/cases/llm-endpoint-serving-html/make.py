"""A web server that answers every GET and POST with an HTML sign-in page (kept by the test process)."""
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PAGE = b"<!doctype html><html><body><h1>Sign in</h1><form>...</form></body></html>"


class _Page(BaseHTTPRequestHandler):
    def _page(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    do_GET = do_POST = _page

    def log_message(self, *args):
        pass


def make(folder):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    (folder / "annoflow.toml").write_text(
        'name = "badinput-llm-html"\nlabels = ["ham", "spam"]\n[[sources]]\npath = "data/items.jsonl"\n'
        f'[[prelabel.models]]\nname = "judge"\nkind = "llm"\nurl = "http://127.0.0.1:{server.server_address[1]}"\nmodel = "any"\n')
