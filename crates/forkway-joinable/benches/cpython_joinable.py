"""CPython's side of forkway-joinable's bench (a long-lived server, like cpython_ipc.py).

    cycle n   the parent puts an int on a JoinableQueue; one consumer process gets it and calls
              task_done; the parent's join() returns; n such cycles
"""

import multiprocessing as mp
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../forkway-testkit/python"))
from bench_server import serve  # noqa: E402


def consumer(q):
    while True:
        q.get()
        q.task_done()


class Server:
    def __init__(self):
        ctx = mp.get_context("fork")
        self.q = ctx.JoinableQueue()
        self.p = ctx.Process(target=consumer, args=(self.q,), daemon=True)
        self.p.start()

    def cycle(self, n):
        q = self.q
        start = time.perf_counter()
        for i in range(n):
            q.put(i)
            q.join()
        return time.perf_counter() - start



if __name__ == "__main__":
    serve(Server())
