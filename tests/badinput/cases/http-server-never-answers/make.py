"""A socket that accepts connections and never sends a byte (kept open by the test process)."""
import socket
import threading


def _hold(sock):
    held = []
    while True:
        conn, _ = sock.accept()
        held.append(conn)

def make(folder):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    threading.Thread(target=_hold, args=(sock,), daemon=True).start()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/data.jsonl"
    (folder / "annoflow.toml").write_text(
        f'name = "bad-input"\nlabels = ["ham", "spam"]\n[[sources]]\npath = "{url}"\ntimeout_seconds = 1\n')
