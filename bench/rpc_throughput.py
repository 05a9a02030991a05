"""RPC throughput: Lectern's ``RpcClient`` against FastStream's ``broker.request``.

One FastStream ``RabbitBroker`` server (its own process) answers requests on one queue
after 5 ms of simulated I/O (``asyncio.sleep``) with a small pydantic model. The same
run then measures, against that one server:

(a) ``lectern.rpc.RpcClient.call``: one exclusive reply queue, replies matched to
    waiting futures by ``correlation_id``, many requests in flight;
(b) FastStream's ``broker.request``: Direct Reply-To behind one lock held for the
    whole round trip, so a process's requests are serialised.

Each client sends N requests (default 2,000) from C concurrent callers (default 64)
after a short warm-up, and the script prints throughput (req/s), p50/p99 latency (ms)
and the throughput ratio (a)/(b). It runs on the machine's RabbitMQ (``RABBITMQ_URL``,
default ``amqp://guest:guest@127.0.0.1:5672/``) in a temporary vhost created with
``rabbitmqctl`` and deleted afterwards.

Run::

    uv run python -m bench.rpc_throughput [--requests 2000] [--concurrency 64]

``python -m bench`` folds the figures into the report through :func:`rows`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from faststream.rabbit import Channel, RabbitBroker, RabbitQueue
from pydantic import BaseModel

from bench.report import Row, Target
from lectern.rpc import RpcClient

ROOT = Path(__file__).resolve().parent.parent

QUEUE = "bench.rpc"
WORK_S = 0.005
"""Simulated I/O per request in the server handler (s)."""
TIMEOUT_S = 30.0
WARMUP = 100
SERVER_PREFETCH = 256


class EchoRequest(BaseModel):
    """Request body."""

    n: int
    query: str


class EchoReply(BaseModel):
    """Reply body."""

    n: int
    hits: list[str]
    took_ms: float


@dataclass(frozen=True)
class Result:
    """Figures of one client's run."""

    name: str
    requests: int
    seconds: float
    latencies_ms: list[float]

    @property
    def throughput(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        """Latency percentile ``q`` (0-100) in milliseconds."""
        ordered = sorted(self.latencies_ms)
        index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
        return ordered[index]

    def line(self) -> str:
        """One formatted result line."""
        return (
            f"{self.name:<44} {self.throughput:>9.1f} req/s   "
            f"p50 {self.percentile(50):>8.1f} ms   p99 {self.percentile(99):>8.1f} ms   "
            f"mean {statistics.fmean(self.latencies_ms):>8.1f} ms"
        )


# --------------------------------------------------------------------------- server


async def serve(url: str) -> None:
    """Answer requests on :data:`QUEUE` until SIGTERM; print ``ready`` once consuming."""
    broker = RabbitBroker(url, default_channel=Channel(prefetch_count=SERVER_PREFETCH), logger=None)

    @broker.subscriber(RabbitQueue(QUEUE, durable=False, auto_delete=True))
    async def handle(request: EchoRequest) -> EchoReply:
        started = time.perf_counter()
        await asyncio.sleep(WORK_S)
        return EchoReply(
            n=request.n,
            hits=[f"chunk-{request.n}-{i}" for i in range(3)],
            took_ms=(time.perf_counter() - started) * 1000,
        )

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # The parent holds our stdin open: EOF means it died, so never outlive it.
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    watch = asyncio.create_task(stdin.read())
    watch.add_done_callback(lambda _: stop.set())
    await broker.start()
    print("ready", flush=True)
    await stop.wait()
    watch.cancel()
    await broker.stop()


# --------------------------------------------------------------------------- clients


async def measure(
    name: str, call: Callable[[int], Awaitable[EchoReply]], requests: int, concurrency: int
) -> Result:
    """Send ``requests`` calls from ``concurrency`` callers; check every reply."""
    for n in range(WARMUP):
        reply = await call(-1 - n)
        assert reply.n == -1 - n
    latencies: list[float] = []
    next_n = 0

    async def caller() -> None:
        nonlocal next_n
        while next_n < requests:
            n = next_n
            next_n += 1
            started = time.perf_counter()
            reply = await call(n)
            latencies.append((time.perf_counter() - started) * 1000)
            if reply.n != n:
                raise AssertionError(f"{name}: reply {reply.n} for request {n}")

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    return Result(name, requests, seconds, latencies)


async def bench_rpc_client(url: str, requests: int, concurrency: int) -> Result:
    """(a) Lectern's RpcClient."""
    client = RpcClient(url, name="bench")
    await client.connect()
    try:

        async def call(n: int) -> EchoReply:
            body = EchoRequest(n=n, query="what is a ROS 2 node?").model_dump_json().encode()
            raw = await client.call(QUEUE, body, timeout=TIMEOUT_S)
            return EchoReply.model_validate_json(raw)

        return await measure("(a) lectern RpcClient.call", call, requests, concurrency)
    finally:
        await client.close()


async def bench_faststream(
    url: str, requests: int, concurrency: int, *, confirms: bool = True
) -> Result:
    """(b) FastStream's ``broker.request`` (publisher confirms as configured)."""
    broker = RabbitBroker(url, default_channel=Channel(publisher_confirms=confirms), logger=None)
    await broker.connect()
    try:

        async def call(n: int) -> EchoReply:
            message = await broker.request(
                EchoRequest(n=n, query="what is a ROS 2 node?"), QUEUE, timeout=TIMEOUT_S
            )
            return EchoReply.model_validate(await message.decode())

        label = "(b) faststream broker.request" if confirms else "(c) same, no publisher confirms"
        return await measure(label, call, requests, concurrency)
    finally:
        await broker.stop()


# --------------------------------------------------------------------------- vhost


def _ctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


def make_vhost(base_url: str) -> tuple[str, str]:
    """Create a temporary vhost with ``guest`` permissions; return ``(name, url)``."""
    name = f"lectern-bench-{uuid.uuid4().hex[:8]}"
    _ctl("add_vhost", name)
    _ctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    parts = urlsplit(base_url)
    return name, urlunsplit((parts.scheme, parts.netloc, "/" + name, "", ""))


async def start_server(url: str) -> asyncio.subprocess.Process:
    """Start the server process and wait for its ``ready`` line."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.rpc_throughput",
        "--serve",
        url,
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), timeout=60)
    if line.strip() != b"ready":
        raise RuntimeError(f"server did not start (exit {process.returncode})")
    return process


def drop_vhost(name: str) -> None:
    """Delete a vhost made by :func:`make_vhost` (ignores errors)."""
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", name], capture_output=True, timeout=60)


async def run(args: argparse.Namespace, url: str, vhost: str) -> None:
    """Start the server, measure both clients against it, print the figures."""
    server = await start_server(url)
    try:
        print(
            f"RPC benchmark: {args.requests} requests, concurrency {args.concurrency}, "
            f"server handler {WORK_S * 1000:.0f} ms (asyncio.sleep), prefetch "
            f"{SERVER_PREFETCH}, vhost {vhost}, {os.cpu_count()} CPUs"
        )
        ours = await bench_rpc_client(url, args.requests, args.concurrency)
        print(ours.line(), flush=True)
        theirs = await bench_faststream(url, args.requests, args.concurrency)
        print(theirs.line(), flush=True)
        if args.no_confirms_variant:
            plain = await bench_faststream(url, args.requests, args.concurrency, confirms=False)
            print(plain.line(), flush=True)
        print(f"throughput ratio (a)/(b): {ours.throughput / theirs.throughput:.1f}x")
    finally:
        if server.returncode is None:
            server.terminate()
            await server.wait()


async def rows(requests: int, concurrency: int) -> list[Row]:
    """Measure both clients on a temporary vhost; the report rows (ours next to theirs)."""
    base_url = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
    vhost, url = await asyncio.to_thread(make_vhost, base_url)
    try:
        server = await start_server(url)
        try:
            ours = await bench_rpc_client(url, requests, concurrency)
            theirs = await bench_faststream(url, requests, concurrency)
        finally:
            server.terminate()
            await server.wait()
    finally:
        await asyncio.to_thread(drop_vhost, vhost)
    note = f"{requests} requests, c={concurrency}, handler {WORK_S * 1000:.0f} ms sleep"
    return [
        Row(
            "6 RPC",
            "RpcClient.call throughput",
            ours.throughput,
            "req/s",
            theirs.throughput,
            "FastStream broker.request",
            Target("ratio_min", 1.0),
            note,
        ),
        Row(
            "6 RPC",
            "RpcClient.call p99",
            ours.percentile(99),
            "ms",
            theirs.percentile(99),
            "FastStream broker.request",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--no-confirms-variant",
        action="store_true",
        help="also measure broker.request on a channel without publisher confirms",
    )
    parser.add_argument("--serve", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve))
        return
    # SIGTERM (a timeout, a CI cancel) unwinds like Ctrl-C, so the vhost is deleted.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    base_url = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
    vhost, url = make_vhost(base_url)
    try:
        asyncio.run(run(args, url, vhost))
    finally:
        drop_vhost(vhost)


if __name__ == "__main__":
    main()
