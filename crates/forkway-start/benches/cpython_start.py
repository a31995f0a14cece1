"""CPython's side of forkway-start's bench (a long-lived server, like cpython_process.py).

    start_join_fork n         n x ctx.Process(target=noop).start(); .join()   (fork)
    start_join_forkserver n   the same under forkserver
    start_join_spawn n        the same under spawn
    ballast n                 hold n bytes (written: resident) from now on; answers VmRSS in bytes
    make_pools 0              a Pool(2) per start method, made now (not timed); answers 0
    drop_pools 0              closes and joins them; answers 0
    map100k_<method> n        n x pool.map(trivial, range(100000)) on that method's pool
    pool1000_<method> n       n x a new ctx.Pool(2), map 1000 tiny tasks, close, join
"""

import multiprocessing as mp
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../forkway-testkit/python"))
from bench_server import serve  # noqa: E402

METHODS = ("fork", "forkserver", "spawn")


def noop():
    pass


def trivial(x):
    return x + 1


class Server:
    def __init__(self):
        self.ctx = {m: mp.get_context(m) for m in METHODS}
        self.pools = {}
        self.weight = None

    def _start_join(self, method, n):
        ctx = self.ctx[method]
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

    def make_pools(self, _):
        for m in METHODS:
            if m not in self.pools:
                self.pools[m] = self.ctx[m].Pool(2)
                self.pools[m].map(trivial, range(10))
        return 0.0

    def drop_pools(self, _):
        for pool in self.pools.values():
            pool.close()
            pool.join()
        self.pools = {}
        return 0.0

    def _map100k(self, method, n):
        pool = self.pools[method]
        start = time.perf_counter()
        for _ in range(n):
            assert len(pool.map(trivial, range(100000))) == 100000
        return time.perf_counter() - start

    def _pool1000(self, method, n):
        ctx = self.ctx[method]
        start = time.perf_counter()
        for _ in range(n):
            with ctx.Pool(2) as p:
                assert len(p.map(trivial, range(1000))) == 1000
                p.close()
                p.join()
        return time.perf_counter() - start

    def __getattr__(self, name):
        for prefix, run in (("start_join_", self._start_join), ("map100k_", self._map100k), ("pool1000_", self._pool1000)):
            if name.startswith(prefix) and name[len(prefix):] in METHODS:
                method = name[len(prefix):]
                return lambda n: run(method, n)
        raise AttributeError(name)


if __name__ == "__main__":
    server = Server()
    try:
        serve(server)
    finally:
        # Stdin closed (the bench ended): the pools' workers end with us.
        server.drop_pools(0)
