"""The loop every cpython_*.py bench script runs: a long-lived server, so interpreter start-up
is never timed. It prints "ready", then answers each "<workload> <n>" line on stdin with the
seconds `getattr(server, workload)(n)` took, as measured by the method itself."""

import sys


def serve(server):
    print("ready", flush=True)
    for line in sys.stdin:
        name, n = line.split()
        print(f"{getattr(server, name)(int(n)):.9f}", flush=True)
