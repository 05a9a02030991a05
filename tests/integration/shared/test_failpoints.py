from __future__ import annotations

import subprocess
import sys

import pytest

from lectern import failpoints

pytestmark = pytest.mark.integration


def test_disarmed_failpoints_do_nothing():
    failpoints.configure("")
    failpoints.crash_if("anything", "x")


def test_armed_failpoint_ends_the_process_only_for_its_value():
    code = (
        "from lectern import failpoints\n"
        "failpoints.configure('indexer.before-ingest=doc-2, other')\n"
        "failpoints.crash_if('indexer.before-ingest', 'doc-1')\n"
        "print('survived doc-1', flush=True)\n"
        "failpoints.crash_if('indexer.before-ingest', 'doc-2')\n"
        "print('not reached')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == failpoints.CRASH_EXIT_CODE
    assert "survived doc-1" in result.stdout
    assert "not reached" not in result.stdout


def test_raise_if_raises_only_for_its_value():
    failpoints.configure("session-logger.poison=e-1")
    try:
        failpoints.raise_if("session-logger.poison", "e-2")
        with pytest.raises(failpoints.FailpointError):
            failpoints.raise_if("session-logger.poison", "e-1")
    finally:
        failpoints.configure("")
