"""CPython's side of forkway-process's bench (a long-lived server, like cpython_ipc.py).

    start_join_fork n         n x Process(target=noop).start(); .join()   (fork start method)
    start_join_forkserver n   the same with the forkserver start method
"""

import multiprocessing as mp
import sys
import time


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

    def start_join_fork(self, n):
        return self._run(self.fork, n)

    def start_join_forkserver(self, n):
        return self._run(self.forkserver, n)


def main():
    server = Server()
    print("ready", flush=True)
    for line in sys.stdin:
        name, n = line.split()
        print(f"{getattr(server, name)(int(n)):.9f}", flush=True)


if __name__ == "__main__":
    main()
