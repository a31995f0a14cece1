"""CPython's side of forkway-process's bench (a long-lived server, like cpython_ipc.py).

    start_join_fork n         n x Process(target=noop).start(); .join()   (fork start method)
    start_join_forkserver n   the same with the forkserver start method
    ballast n                 hold n bytes (written: resident) from now on; answers VmRSS in bytes
"""

import multiprocessing as mp
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../forkway-testkit/python"))
from bench_server import serve  # noqa: E402


def noop():
    pass


class Server:
    def __init__(self):
        self.fork = mp.get_context("fork")
        self.forkserver = mp.get_context("forkserver")

    def _run(self, ctx, n):
        start = time.perf_counter()
        for _ in range(n):
            p = ctx.Process(target=noop)
            p.start()
            p.join()
        return time.perf_counter() - start

    def ballast(self, n):
        self.weight = None
        self.weight = b"\x01" * n if n else None
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024.0
        return 0.0

    def start_join_fork(self, n):
        return self._run(self.fork, n)

    def start_join_forkserver(self, n):
        return self._run(self.forkserver, n)



if __name__ == "__main__":
    serve(Server())
