"""Every figure the trust work is judged by, in one run: consensus on human-routed items, calibration of
resolved items, hostile crowds beside crowd-kit, and the CLI's wall time.

    uv run python -m bench.trust [--quick]

Each part is also a command of its own (bench.routed, bench.calibration, bench.hostile, bench.cli);
this runs them one after another as separate processes, so one part's memory or imports never colour
another's timing. --quick skips the demo in bench.routed and the ephemeral-server row of bench.cli.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the demo replay and the ephemeral-server row")
    quick = parser.parse_args().quick
    parts = [
        ("consensus on items routed to people", ["bench.routed", *(["--skip-demo"] if quick else [])]),
        ("calibration of resolved items", ["bench.calibration"]),
        ("hostile crowds beside crowd-kit", ["bench.hostile"]),
        ("CLI wall time", ["bench.cli", *(["--skip-ephemeral"] if quick else [])]),
    ]
    failed = []
    for title, args in parts:
        print(f"\n=== {title}: python -m {' '.join(args)}", flush=True)
        t0 = time.perf_counter()
        if subprocess.run([sys.executable, "-m", *args], check=False).returncode != 0:
            failed.append(args[0])
        print(f"=== {title}: {time.perf_counter() - t0:.0f} s", flush=True)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
