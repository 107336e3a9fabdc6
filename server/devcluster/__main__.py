"""``python -m server.devcluster [--workers N] [--dir var/cluster]``: the local scale-out topology.

Serves https://127.0.0.1:8443 (nginx, self-signed certificate) until Ctrl-C, then drains the
workers and stops every server. ``make run-cluster`` runs it.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
from pathlib import Path

from server.devcluster.topology import LocalCluster


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m server.devcluster")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--dir", type=Path, default=Path("var/cluster"))
    args = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with LocalCluster(args.dir.resolve(), workers=args.workers) as cluster:
        print(
            f"Digital Teller cluster: {cluster.url}  ({args.workers} workers, logs in {args.dir})", flush=True
        )
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
        print("draining the workers and stopping the servers ...", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
