"""deploy/healthcheck.py picks the URL of the service named by SERVICE."""

from __future__ import annotations

import importlib.util
from types import ModuleType

import pytest
from tests.unit.deploy.deploy_files import REPO_ROOT


def load_healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "healthcheck", REPO_ROOT / "deploy" / "healthcheck.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


healthcheck = load_healthcheck()


@pytest.mark.parametrize(
    ("environ", "url"),
    [
        ({"SERVICE": "gateway"}, "http://127.0.0.1:8000/health/ready"),
        ({"SERVICE": "gateway", "GATEWAY_PORT": "8080"}, "http://127.0.0.1:8080/health/ready"),
        ({"SERVICE": "indexer"}, "http://127.0.0.1:9101/metrics"),
        ({"SERVICE": "session-logger", "METRICS_PORT": "9200"}, "http://127.0.0.1:9200/metrics"),
        ({"SERVICE": "indexer", "HEALTHCHECK_URL": "http://127.0.0.1:1/x"}, "http://127.0.0.1:1/x"),
    ],
)
def test_health_url_by_service(environ: dict[str, str], url: str) -> None:
    assert healthcheck.health_url(environ) == url


@pytest.mark.parametrize("environ", [{}, {"SERVICE": "worker"}])
def test_unknown_service_is_refused(environ: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="SERVICE must be one of"):
        healthcheck.health_url(environ)
