"""CPython's side of forkway-ipc's benchmarks: the same workloads with multiprocessing.

Run by benches/ipc.rs as a long-lived server, so interpreter start-up is never measured:
it reads one command per line on stdin ("<workload> <n>") and answers with the elapsed
seconds for n operations. Helper processes are started once per workload (fork start
method, as forkway) and reused, exactly like the Rust side.

    pipe_round_trip n   parent sends an int, child echoes it: n round trips (two simplex Pipes)
    queue_small n       child puts n ints on a Queue, parent gets them
    queue_1mib n        child puts n 1 MiB bytes objects on a Queue, parent gets them
    queue_bytes_S n     the same with S-byte bytes objects (the size curve)
    queue_mesh_K n      K producer and K consumer processes on one Queue, n items in all
"""

import multiprocessing as mp
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../forkway-testkit/python"))
from bench_server import serve  # noqa: E402


MIB = 1 << 20


def echo(rx, tx):
    while True:
        try:
            v = rx.recv()
        except EOFError:
            return
        tx.send(v)


def producer(cmd, q, payload):
    while True:
        try:
            n = cmd.recv()
        except EOFError:
            return
        item = payload if payload is not None else 0
        for i in range(n):
            q.put(item if payload is not None else i)


def mesh_worker(cmd, q, done, producer):
    while True:
        try:
            n = cmd.recv()
        except EOFError:
            return
        if producer:
            for i in range(n):
                q.put(i)
        else:
            for _ in range(n):
                q.get()
            done.put(n)


class Server:
    def __init__(self):
        self.ctx = mp.get_context("fork")
        self.helpers = {}

    def pipe_round_trip(self, n):
        if "pipe" not in self.helpers:
            a_r, a_w = self.ctx.Pipe(duplex=False)
            b_r, b_w = self.ctx.Pipe(duplex=False)
            p = self.ctx.Process(target=echo, args=(a_r, b_w), daemon=True)
            p.start()
            self.helpers["pipe"] = (p, a_w, b_r)
        _, tx, rx = self.helpers["pipe"]
        start = time.perf_counter()
        for i in range(n):
            tx.send(i)
            rx.recv()
        return time.perf_counter() - start

    def _queue(self, key, n, payload):
        if key not in self.helpers:
            q = self.ctx.Queue()
            cmd_r, cmd_w = self.ctx.Pipe(duplex=False)
            p = self.ctx.Process(target=producer, args=(cmd_r, q, payload), daemon=True)
            p.start()
            self.helpers[key] = (p, q, cmd_w)
        _, q, cmd = self.helpers[key]
        start = time.perf_counter()
        cmd.send(n)
        for _ in range(n):
            q.get()
        return time.perf_counter() - start

    def queue_small(self, n):
        return self._queue("small", n, None)

    def queue_1mib(self, n):
        return self._queue("1mib", n, b"x" * MIB)

    def _mesh(self, k, n):
        key = f"mesh{k}"
        if key not in self.helpers:
            q, done = self.ctx.Queue(), self.ctx.Queue()
            cmds = []
            for role in range(2 * k):
                r, w = self.ctx.Pipe(duplex=False)
                self.ctx.Process(target=mesh_worker, args=(r, q, done, role < k), daemon=True).start()
                cmds.append(w)
            self.helpers[key] = (cmds, done)
        cmds, done = self.helpers[key]
        each = n // k
        start = time.perf_counter()
        for c in cmds:
            c.send(each)
        for _ in range(k):
            done.get()
        return time.perf_counter() - start

    def __getattr__(self, name):
        # The curves' workloads: queue_bytes_<size>, queue_mesh_<k>.
        if name.startswith("queue_bytes_"):
            size = int(name[len("queue_bytes_"):])
            return lambda n: self._queue(name, n, b"x" * size)
        if name.startswith("queue_mesh_"):
            k = int(name[len("queue_mesh_"):])
            return lambda n: self._mesh(k, n)
        raise AttributeError(name)



if __name__ == "__main__":
    serve(Server())
