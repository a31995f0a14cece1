"""CPython's side of forkway-sync's benchmarks (a long-lived server, like cpython_ipc.py).

    lock_uncontended n   n x (Lock.acquire(); Lock.release()) in one process
    counter_2procs n     2 processes each do n/2 x `with v.get_lock(): v.value += 1`
"""

import multiprocessing as mp
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../forkway-testkit/python"))
from bench_server import serve  # noqa: E402


def bump(v, n, go):
    go.wait()
    for _ in range(n):
        with v.get_lock():
            v.value += 1


class Server:
    def __init__(self):
        self.ctx = mp.get_context("fork")
        self.lock = self.ctx.Lock()

    def lock_uncontended(self, n):
        lock = self.lock
        start = time.perf_counter()
        for _ in range(n):
            lock.acquire()
            lock.release()
        return time.perf_counter() - start

    def counter_2procs(self, n):
        v = self.ctx.Value("q", 0)
        go = self.ctx.Event()
        ps = [self.ctx.Process(target=bump, args=(v, n // 2, go)) for _ in range(2)]
        for p in ps:
            p.start()
        start = time.perf_counter()
        go.set()
        for p in ps:
            p.join()
        return time.perf_counter() - start



if __name__ == "__main__":
    serve(Server())
