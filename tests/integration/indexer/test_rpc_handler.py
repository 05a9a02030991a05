"""The indexer's RPC handler stays on the event loop: no worker thread per request.

FastDepends resolves a handler argument FastStream fills from its Context (``message:
RabbitMessage``) with a sync function, and runs every sync resolver in a worker thread
(``fast_depends.utils.run_in_threadpool``): a thread hop per request, and under load a
thread start that blocks the loop. The handler takes the decoded body instead.
"""

from __future__ import annotations

from typing import Any

import fast_depends.utils
import pytest

from lectern import topology
from lectern.contracts import PingRequest, PingResponse
from lectern.rpc import RpcClient

pytestmark = pytest.mark.integration


async def test_an_rpc_request_needs_no_worker_thread(
    rpc: RpcClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    hops: list[Any] = []
    original = fast_depends.utils.run_in_threadpool

    async def counted(func: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(func)
        return await original(func, *args, **kwargs)

    monkeypatch.setattr(fast_depends.utils, "run_in_threadpool", counted)
    body = PingRequest().model_dump_json().encode()
    for _ in range(3):
        raw = await rpc.call(topology.INDEXER_RPC_QUEUE, body, timeout=10)
        assert PingResponse.model_validate_json(raw).service == "indexer"
    assert hops == []
