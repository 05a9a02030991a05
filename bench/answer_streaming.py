"""Streamed answers: what the gateway adds to an LLM's time to first token and per token.

One scripted OpenAI-compatible server (``tests/integration/gateway/llm_server.py``, its
own process) streams every reply as T tokens (default 200) with a fixed delay before each
(default 5 ms). The same run then measures, N times each (interleaved, after a warm-up):

(a) **direct**: the official ``openai`` client (``AsyncOpenAI``) streaming from that
    server: time to the first content delta, time to the last;
(b) **gateway**: ``POST /v1/answers`` with ``stream: true`` to the gateway under uvicorn
    (its own process, real RabbitMQ in a temporary vhost) in front of the same server,
    read as server-sent events: time to the first ``token`` event, to the last one, and
    to ``done`` (which follows the publish of ``AnswerCompleted``).

The question comes with ``context``, so the gateway retrieves nothing (its
``retrieval_ms``, from the ``done`` event, is printed and subtracted). Per pair of runs:
TTFT overhead = (b) first - (a) first - retrieval; per-token overhead =
((b) last - (b) first - ((a) last - (a) first)) / (T - 1). The script prints their
p50/p95 against the targets (≤ 10 ms TTFT overhead beyond retrieval, ≤ 1 ms per token).

Run::

    uv run python -m bench.answer_streaming [--runs 20] [--tokens 200] [--delay-ms 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

import httpx
from openai import AsyncOpenAI

from bench.rpc_throughput import drop_vhost, make_vhost

TTFT_TARGET_MS = 10.0
PER_TOKEN_TARGET_MS = 1.0
WARMUP = 2
CONTEXT = ["Gazebo installs on macOS with Homebrew: brew install gz-jetty."]
QUESTION = "How do I install Gazebo on macOS?"


@dataclass(frozen=True)
class Timing:
    """One streamed reply, in ms from the request: first and last token, end."""

    first_ms: float
    last_ms: float
    end_ms: float
    tokens: int
    retrieval_ms: float = 0.0


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, linear between closest ranks."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def serve_llm(tokens: int, delay_ms: float) -> None:
    """Child process: run the scripted server, print its base URL, serve until stdin ends."""
    from tests.integration.gateway.llm_server import Script, running_llm_server

    with running_llm_server() as (base_url, state):
        state.scripts = [Script(chunks=["tok "] * tokens, chunk_delay_s=delay_ms / 1000)]
        print(base_url, flush=True)
        sys.stdin.read()


def start_llm(tokens: int, delay_ms: float) -> tuple[subprocess.Popen[str], str]:
    """Start the scripted server process; return it and its base URL (ends in ``/v1``)."""
    command = [sys.executable, "-m", "bench.answer_streaming", "--serve-llm"]
    command += ["--tokens", str(tokens), "--delay-ms", str(delay_ms)]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    base_url = process.stdout.readline().strip()
    if not base_url.startswith("http"):
        raise RuntimeError("the scripted LLM server did not start")
    return process, base_url


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def start_gateway(amqp_url: str, llm_url: str) -> tuple[asyncio.subprocess.Process, str]:
    """Start the gateway under uvicorn; return it and its URL once ``/health/live`` is 200."""
    port = _free_port()
    env = os.environ | {
        "RABBITMQ_URL": amqp_url,
        "LLM_BASE_URL": llm_url,
        "LLM_MODEL": "scripted",
        "RATE_LIMIT_PER_MINUTE": "100000",
        "LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "uvicorn", "lectern_gateway.app:main_app", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    process = await asyncio.create_subprocess_exec(*command, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline and process.returncode is None:
            try:
                if (await client.get(url + "/health/live")).status_code == 200:
                    return process, url
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    if process.returncode is None:
        process.terminate()
        await process.wait()
    raise RuntimeError("the gateway did not start")


async def direct(client: AsyncOpenAI) -> Timing:
    """Stream one reply straight from the scripted server."""
    started = time.perf_counter()
    first = last = 0.0
    tokens = 0
    stream = await client.chat.completions.create(
        model="scripted", messages=[{"role": "user", "content": QUESTION}], stream=True
    )
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            last = time.perf_counter() - started
            first = first or last
            tokens += 1
    end = time.perf_counter() - started
    return Timing(first * 1000, last * 1000, end * 1000, tokens)


async def through_gateway(client: httpx.AsyncClient) -> Timing:
    """Stream one answer from ``POST /v1/answers`` (server-sent events)."""
    body = {"question": QUESTION, "context": CONTEXT, "stream": True}
    started = time.perf_counter()
    first = last = 0.0
    tokens = 0
    event = None
    retrieval_ms = 0.0
    async with client.stream("POST", "/v1/answers", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == "token":
                last = time.perf_counter() - started
                first = first or last
                tokens += 1
            elif line.startswith("data: ") and event == "done":
                done = json.loads(line.removeprefix("data: "))
                if done["generator"] != "llm":
                    raise RuntimeError(f"the gateway fell back: {done['fallback_reason']}")
                retrieval_ms = done["timings"]["retrieval_ms"]
    end = time.perf_counter() - started
    return Timing(first * 1000, last * 1000, end * 1000, tokens, retrieval_ms)


def report(pairs: list[tuple[Timing, Timing]], tokens: int) -> None:
    """Print p50/p95 of each figure and of the two overheads against their targets."""

    def row(name: str, values: list[float], unit: str = "ms") -> None:
        p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
        print(f"  {name:<46} p50 {p50:8.2f} {unit}   p95 {p95:8.2f} {unit}")

    row("direct: time to first token", [d.first_ms for d, _ in pairs])
    row("direct: time to last token", [d.last_ms for d, _ in pairs])
    row("gateway: time to first token event", [g.first_ms for _, g in pairs])
    row("gateway: time to last token event", [g.last_ms for _, g in pairs])
    row("gateway: time to done (after AnswerCompleted)", [g.end_ms for _, g in pairs])
    row("gateway: retrieval_ms (context, no search)", [g.retrieval_ms for _, g in pairs])
    ttft, per_token = overheads(pairs, tokens)
    row("TTFT overhead beyond retrieval", ttft)
    row("per-token overhead", per_token, "ms/token")
    ttft_p50, tok_p50 = percentile(ttft, 0.5), percentile(per_token, 0.5)
    print(
        f"targets: TTFT overhead <= {TTFT_TARGET_MS:.0f} ms: p50 "
        f"{'met' if ttft_p50 <= TTFT_TARGET_MS else 'MISSED'}; per token <= "
        f"{PER_TOKEN_TARGET_MS:.0f} ms: p50 {'met' if tok_p50 <= PER_TOKEN_TARGET_MS else 'MISSED'}"
    )


async def measure(
    llm_url: str, gateway_url: str, runs: int, tokens: int
) -> list[tuple[Timing, Timing]]:
    """Interleave direct and gateway runs; check every reply was whole; the pairs."""
    sdk = AsyncOpenAI(base_url=llm_url, api_key="not-needed", max_retries=0)
    async with httpx.AsyncClient(base_url=gateway_url, timeout=120) as client:
        pairs = []
        for n in range(WARMUP + runs):
            pair = (await direct(sdk), await through_gateway(client))
            if any(t.tokens < tokens for t in pair):
                raise RuntimeError(f"a reply was cut short: {pair}")
            if n >= WARMUP:
                pairs.append(pair)
    await sdk.close()
    return pairs


def overheads(pairs: list[tuple[Timing, Timing]], tokens: int) -> tuple[list[float], list[float]]:
    """Per run: TTFT overhead beyond retrieval (ms) and per-token overhead (ms/token)."""
    ttft = [g.first_ms - d.first_ms - g.retrieval_ms for d, g in pairs]
    per_token = [
        ((g.last_ms - g.first_ms) - (d.last_ms - d.first_ms)) / (tokens - 1) for d, g in pairs
    ]
    return ttft, per_token


async def run(*, quick: bool) -> list[dict[str, object]]:
    """The ``make bench`` slot: the two overheads as report rows (see bench/README.md).

    ``quick``: 3 runs of 50 tokens instead of 30 of 200 (5 ms before each token).
    """
    args = argparse.Namespace(runs=3 if quick else 30, tokens=50 if quick else 200, delay_ms=5.0)
    pairs = await measure_with_stack(args)
    ttft, per_token = overheads(pairs, args.tokens)
    sizes = f"{args.runs} runs, {args.tokens} tokens, {args.delay_ms:g} ms each"
    direct_ttft = percentile([d.first_ms for d, _ in pairs], 0.5)
    return [
        {
            "measure": "time to first token overhead beyond retrieval, p50",
            "value": percentile(ttft, 0.5),
            "unit": "ms",
            "limit": direct_ttft,
            "limit_label": "TTFT of the LLM called directly (openai SDK)",
            "target": ("max", TTFT_TARGET_MS),
            "note": f"{sizes}; p95 {percentile(ttft, 0.95):.2f} ms",
        },
        {
            "measure": "per streamed token overhead, p50",
            "value": percentile(per_token, 0.5),
            "unit": "ms/token",
            "target": ("max", PER_TOKEN_TARGET_MS),
            "note": f"{sizes}; p95 {percentile(per_token, 0.95):.3f} ms/token",
        },
    ]


async def run_cli(args: argparse.Namespace) -> None:
    """Measure as ``make bench-answers`` does and print the figures."""
    report(await measure_with_stack(args), args.tokens)


async def measure_with_stack(args: argparse.Namespace) -> list[tuple[Timing, Timing]]:
    """Start the scripted server and the gateway, measure, stop both."""
    base_amqp = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
    vhost, amqp_url = make_vhost(base_amqp)
    llm, llm_url = start_llm(args.tokens, args.delay_ms)
    gateway = None
    try:
        gateway, gateway_url = await start_gateway(amqp_url, llm_url)
        load = os.getloadavg()[0]
        print(
            f"answer streaming: {args.runs} runs (+{WARMUP} warm-up), {args.tokens} tokens, "
            f"{args.delay_ms:g} ms before each; {os.cpu_count()} CPUs, load {load:.1f}"
        )
        return await measure(llm_url, gateway_url, args.runs, args.tokens)
    finally:
        if gateway is not None and gateway.returncode is None:
            gateway.terminate()
            await gateway.wait()
        if llm.poll() is None:
            llm.terminate()
            llm.wait(timeout=30)
        drop_vhost(vhost)


def main() -> None:
    """Parse the arguments; run the benchmark (or, as a child, the scripted server)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--delay-ms", type=float, default=5.0)
    parser.add_argument("--serve-llm", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_llm:
        serve_llm(args.tokens, args.delay_ms)
    else:
        asyncio.run(run_cli(args))


if __name__ == "__main__":
    main()
