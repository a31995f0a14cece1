"""CPython's side of forkway-manager's bench (a long-lived server, like cpython_ipc.py).

    value_get n     n reads of a Manager().Value's .value (one proxy round trip each)
    queue_cycle n   n put + get pairs on a Manager().Queue()
    shared_get n    n reads of a multiprocessing.Value's .value (shared memory, its lock taken)
"""

import multiprocessing as mp
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../forkway-testkit/python"))
from bench_server import serve  # noqa: E402

CTX = mp.get_context("fork")


class Server:
    def __init__(self):
        self.manager = CTX.Manager()
        self.value = self.manager.Value("q", 7)
        self.queue = self.manager.Queue()
        self.shared = CTX.Value("q", 7)

    def value_get(self, n):
        v = self.value
        start = time.perf_counter()
        for _ in range(n):
            v.value
        return time.perf_counter() - start

    def queue_cycle(self, n):
        q = self.queue
        start = time.perf_counter()
        for i in range(n):
            q.put(i)
            q.get()
        return time.perf_counter() - start

    def shared_get(self, n):
        v = self.shared
        start = time.perf_counter()
        for _ in range(n):
            v.value
        return time.perf_counter() - start


if __name__ == "__main__":
    server = Server()
    serve(server)
    # stdin closed: stop the manager's server process before exiting (it would outlive us if
    # we were killed instead).
    server.manager.shutdown()
