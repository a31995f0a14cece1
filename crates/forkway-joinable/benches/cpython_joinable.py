"""CPython's side of forkway-joinable's bench (a long-lived server, like cpython_ipc.py).

    cycle n   the parent puts an int on a JoinableQueue; one consumer process gets it and calls
              task_done; the parent's join() returns; n such cycles
"""

import multiprocessing as mp
import sys
import time


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


def main():
    server = Server()
    print("ready", flush=True)
    for line in sys.stdin:
        name, n = line.split()
        print(f"{getattr(server, name)(int(n)):.9f}", flush=True)


if __name__ == "__main__":
    main()
