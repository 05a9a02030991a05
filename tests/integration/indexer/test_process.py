"""``lectern-indexer`` as a real process: SIGTERM finishes in-flight work, data persists."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import aio_pika
import pytest
from tests.conftest import DENSE_MODEL_PATH, PYTHON_HTML_CORPUS, REPO_ROOT, SPARSE_MODEL_PATH
from tests.integration.indexer.conftest import Bus

from lectern import topology
from lectern.contracts import (
    IngestDocument,
    PingRequest,
    SearchRequest,
    SearchResponse,
    content_version,
)
from lectern.rpc import NoConsumerError, RpcClient, RpcTimeoutError

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class IndexerProcess:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as handle:
            self.process = subprocess.Popen(
                [str(REPO_ROOT / ".venv" / "bin" / "lectern-indexer")],
                env=self.env,
                cwd=REPO_ROOT,
                stdout=handle,
                stderr=subprocess.STDOUT,
            )

    def stop(self, timeout: float = 90) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise
        return int(self.process.returncode)

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])


@pytest.fixture
def indexer_process(amqp_url: str, tmp_path: Path) -> Iterator[IndexerProcess]:
    env = {
        **os.environ,
        "RABBITMQ_URL": amqp_url,
        "QDRANT_PATH": str(tmp_path / "qdrant"),
        "EMBEDDING_MODEL_PATH": str(DENSE_MODEL_PATH),
        "SPARSE_MODEL_PATH": str(SPARSE_MODEL_PATH),
        "SHUTDOWN_GRACE_S": "120",
        "LOG_JSON": "true",
    }
    env.pop("QDRANT_URL", None)
    process = IndexerProcess(env, tmp_path / "indexer.log")
    try:
        yield process
    finally:
        if process.process is not None and process.process.poll() is None:
            process.process.kill()
            process.process.wait()


async def _wait_ready(rpc: RpcClient, process: IndexerProcess, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.process is not None
        if process.process.poll() is not None:
            raise AssertionError(f"indexer exited early:\n{process.tail()}")
        try:
            await rpc.call(
                topology.INDEXER_RPC_QUEUE, PingRequest().model_dump_json().encode(), timeout=2
            )
            return
        except (NoConsumerError, RpcTimeoutError):
            await asyncio.sleep(0.3)
    raise AssertionError(f"indexer not ready:\n{process.tail()}")


def _commands_held(amqp_url: str) -> int:
    """Unacknowledged messages in the indexer's command queue(s) (``rabbitmqctl``)."""
    vhost = amqp_url.rsplit("/", 1)[1]
    output = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name", "messages_unacknowledged"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    held = 0
    for line in output.splitlines():
        name, _, count = line.partition("\t")
        if name.startswith(topology.INDEXER_COMMANDS_QUEUE) and count.strip().isdigit():
            held += int(count)
    return held


async def _wait_held(amqp_url: str, timeout: float = 120) -> None:
    async with asyncio.timeout(timeout):
        while True:
            if await asyncio.to_thread(_commands_held, amqp_url):
                return
            await asyncio.sleep(0.1)


async def test_sigterm_finishes_in_flight_ingest_and_data_persists(
    amqp_url: str, indexer_process: IndexerProcess
):
    connection = await aio_pika.connect(amqp_url)
    rpc = RpcClient(amqp_url, name="process-test")
    await rpc.connect()
    try:
        indexer_process.start()
        await _wait_ready(rpc, indexer_process)
        bus = Bus(connection)
        await bus.start()
        content = (PYTHON_HTML_CORPUS / "howto/regex.html").read_text(encoding="utf-8")
        await bus.ingest(
            IngestDocument(
                document_id="regex-howto",
                version=content_version(content),
                title="Regular Expression HOWTO",
                format="html",
                content=content,
            )
        )
        await _wait_held(amqp_url)  # the indexer took the command: the ingest is in flight
        assert not bus.events, "ingest finished before SIGTERM; use a larger document"
        returncode = await asyncio.to_thread(indexer_process.stop)  # gives up after 90 s
        assert returncode == 0, indexer_process.tail()
        (event,) = await bus.wait_for(lambda e: e["event_type"] == "document.indexed", timeout=5)
        assert event["document_id"] == "regex-howto"

        channel = await connection.channel()
        for shard in topology.indexer_shard_queues():
            queue = await channel.declare_queue(shard.name, passive=True)
            assert queue.declaration_result.message_count == 0

        indexer_process.start()
        await _wait_ready(rpc, indexer_process)
        raw = await rpc.call(
            topology.INDEXER_RPC_QUEUE,
            SearchRequest(query="regular expression compile flags").model_dump_json().encode(),
            timeout=10,
        )
        hits = SearchResponse.model_validate_json(raw).hits
        assert hits
        assert hits[0].document_id == "regex-howto"
        assert await asyncio.to_thread(indexer_process.stop) == 0
    finally:
        await rpc.close()
        await connection.close()
