"""CPython's side of forkway-pool's bench (a long-lived server, like cpython_ipc.py).

    map100k n      n times: Pool(2).map(trivial, range(100000)) on one pool made beforehand
    apply n        n apply_async(trivial, (i,)).get() round trips on that pool
    pool_N n       n times: a new Pool(2), map N tiny tasks, close, join   (N = 10, 100, 1000)
    spawn_N n      n times: one Process per task, each putting its result on a Queue; collect, join
    map_n_N n      n times: pool.map(trivial, range(N))                     (the curve vs N)
    map_chunk_N_C n  n times: pool.map(trivial, range(N), chunksize=C)      (the curve vs chunksize)
    imap_peak N    bytes: growth of this process's peak RSS over imap(trivial, range(N), 100)
    map_peak N     the same for map (a list of N results)
"""

import multiprocessing as mp
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../forkway-testkit/python"))
from bench_server import serve  # noqa: E402

CTX = mp.get_context("fork")


def trivial(x):
    return x + 1


def put_trivial(q, x):
    q.put(trivial(x))


def pool_n(n_tasks, n):
    start = time.perf_counter()
    for _ in range(n):
        with CTX.Pool(2) as p:
            assert len(p.map(trivial, range(n_tasks))) == n_tasks
            p.close()
            p.join()
    return time.perf_counter() - start


def spawn_n(n_tasks, n):
    start = time.perf_counter()
    for _ in range(n):
        q = CTX.SimpleQueue()
        procs = [CTX.Process(target=put_trivial, args=(q, i)) for i in range(n_tasks)]
        for p in procs:
            p.start()
        got = [q.get() for _ in range(n_tasks)]
        for p in procs:
            p.join()
        assert len(got) == n_tasks
    return time.perf_counter() - start


def status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def peak_growth(run):
    # Reset the peak to the current RSS, so earlier growth does not count (as the Rust side).
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    base = status_kib("VmRSS:")
    run()
    return max(status_kib("VmHWM:") - base, 0) * 1024.0


class Server:
    def __init__(self):
        self.pool = CTX.Pool(2)
        for n_tasks in (10, 100, 1000):
            setattr(self, f"pool_{n_tasks}", lambda n, k=n_tasks: pool_n(k, n))
            setattr(self, f"spawn_{n_tasks}", lambda n, k=n_tasks: spawn_n(k, n))

    def map100k(self, n):
        start = time.perf_counter()
        for _ in range(n):
            assert len(self.pool.map(trivial, range(100000))) == 100000
        return time.perf_counter() - start

    def imap_peak(self, items):
        def run():
            total = 0
            for r in self.pool.imap(trivial, range(items), 100):
                total += r
        return peak_growth(run)

    def map_peak(self, items):
        return peak_growth(lambda: len(self.pool.map(trivial, range(items), 100)))

    def __getattr__(self, name):
        # The curves' workloads: map_n_<N>, map_chunk_<N>_<chunksize>.
        if name.startswith("map_n_"):
            items = int(name[len("map_n_"):])
            return lambda n: self._map(items, None, n)
        if name.startswith("map_chunk_"):
            items, chunk = map(int, name[len("map_chunk_"):].split("_"))
            return lambda n: self._map(items, chunk, n)
        raise AttributeError(name)

    def _map(self, items, chunksize, n):
        start = time.perf_counter()
        for _ in range(n):
            assert len(self.pool.map(trivial, range(items), chunksize)) == items
        return time.perf_counter() - start

    def apply(self, n):
        pool = self.pool
        start = time.perf_counter()
        for i in range(n):
            pool.apply_async(trivial, (i,)).get()
        return time.perf_counter() - start


if __name__ == "__main__":
    serve(Server())
