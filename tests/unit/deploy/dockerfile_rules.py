"""What every Dockerfile of deploy/ must do, read with BuildKit's own parser (``dockerfile``).

:func:`dockerfile_problems` checks the instructions: a pinned base image, the two-step
``uv sync`` from the lock (third-party dependencies first, with every workspace member's
manifest copied and no source code, then the project), no dev dependencies, a numeric
non-root user (Kubernetes' ``runAsNonRoot`` can only verify a numeric one), a
``HEALTHCHECK`` and a command. :func:`replay_uv_syncs` re-enacts the file's ``COPY``
instructions into a folder and runs each ``uv sync`` there as a dry run, offline: it
proves the copied files are enough for uv and the lock (no Docker engine is needed).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import dockerfile
from tests.unit.deploy.deploy_files import REPO_ROOT

SKIP_PROJECT = frozenset({"--no-install-workspace", "--no-install-project"})
FROM_LOCK = frozenset({"--locked", "--frozen"})


def workspace_manifests() -> set[str]:
    """``pyproject.toml`` and ``uv.lock`` of the root plus each workspace member's manifest."""
    root = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    members = root["tool"]["uv"]["workspace"]["members"]
    return {"pyproject.toml", "uv.lock", *(f"{member}/pyproject.toml" for member in members)}


def _uv_sync(command: dockerfile.Command) -> list[str] | None:
    if command.cmd != "RUN":
        return None
    argv = list(command.value) if command.json else shlex.split(command.value[0])
    return argv if argv[:2] == ["uv", "sync"] else None


def _local_copy(command: dockerfile.Command) -> bool:
    return command.cmd == "COPY" and not any(f.startswith("--from") for f in command.flags)


def dockerfile_problems(path: Path) -> list[str]:
    """Every broken rule of the Dockerfile at ``path``, one line each (empty when fine)."""
    commands = dockerfile.parse_file(str(path))
    problems = [
        f"base image {c.value[0]} is not pinned to a tag"
        for c in commands
        if c.cmd == "FROM" and (":" not in c.value[0] or c.value[0].endswith(":latest"))
    ]
    syncs = [(i, argv) for i, c in enumerate(commands) if (argv := _uv_sync(c)) is not None]
    problems += _two_step_sync(commands, syncs)
    final_stage = max(i for i, c in enumerate(commands) if c.cmd == "FROM")
    users = [c.value[0] for c in commands[final_stage:] if c.cmd == "USER"]
    uid = users[-1].split(":")[0] if users else "root"
    if not uid.isdigit() or int(uid) == 0:
        problems.append(f"the image runs as {uid!r}, not a numeric non-root user")
    checks = [c for c in commands[final_stage:] if c.cmd == "HEALTHCHECK"]
    if not checks or checks[-1].value[0].upper() == "NONE":
        problems.append("no HEALTHCHECK")
    if not any(c.cmd in ("CMD", "ENTRYPOINT") for c in commands[final_stage:]):
        problems.append("no CMD or ENTRYPOINT")
    problems += [
        f"COPY source {source} does not exist in the repository"
        for c in commands
        if _local_copy(c)
        for source in c.value[:-1]
        if not (REPO_ROOT / source).exists()
    ]
    return problems


def _two_step_sync(
    commands: tuple[dockerfile.Command, ...], syncs: list[tuple[int, list[str]]]
) -> list[str]:
    if len(syncs) != 2:
        return [f"{len(syncs)} uv sync steps, not two (dependencies, then the project)"]
    problems = []
    (first_at, first), (_, second) = syncs
    if not SKIP_PROJECT & set(first):
        problems.append("the first uv sync installs the project (no --no-install-workspace)")
    if SKIP_PROJECT & set(second):
        problems.append("the second uv sync does not install the project")
    for argv in (first, second):
        if "--no-dev" not in argv:
            problems.append(f"{shlex.join(argv)}: without --no-dev")
        if not FROM_LOCK & set(argv):
            problems.append(f"{shlex.join(argv)}: not from the lock (--locked)")
    copied = {
        str(PurePosixPath(source))
        for c in commands[:first_at]
        if _local_copy(c)
        for source in c.value[:-1]
    }
    required = workspace_manifests()
    problems += [f"step 1 does not copy {name}" for name in sorted(required - copied)]
    problems += [
        f"step 1 copies {name} before the dependencies are installed"
        for name in sorted(copied - required)
    ]
    return problems


@dataclass(frozen=True)
class SyncRun:
    """One ``uv sync`` of the Dockerfile, replayed: its arguments, exit status and output."""

    argv: list[str]
    returncode: int
    output: str


def _target(context: Path, workdir: PurePosixPath, destination: str) -> Path:
    path = PurePosixPath(destination)
    absolute = path if path.is_absolute() else workdir / path
    return context / absolute.relative_to("/")


def _copy(sources: tuple[str, ...], destination: Path, into: bool) -> None:
    for source in sources:
        origin = REPO_ROOT / source
        if origin.is_dir():
            shutil.copytree(
                origin,
                destination,
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns("__pycache__"),
            )
        else:
            target = destination / origin.name if into else destination
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target)


def replay_uv_syncs(path: Path, service: str, context: Path, uv: str) -> list[SyncRun]:
    """Re-enact the ``COPY`` instructions of ``path`` into ``context`` and dry-run each
    ``uv sync`` (``--dry-run --offline``) where it runs, with ``SERVICE=service``."""
    workdir, runs = PurePosixPath("/"), []
    env = {
        k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")
    }
    env["UV_CACHE_DIR"] = str(context / ".uv-cache")
    for command in dockerfile.parse_file(str(path)):
        if command.cmd == "WORKDIR":
            workdir = workdir / command.value[0]
        elif _local_copy(command):
            destination = command.value[-1]
            _copy(
                command.value[:-1],
                _target(context, workdir, destination),
                destination.endswith("/"),
            )
        elif (argv := _uv_sync(command)) is not None:
            argv = [arg.replace("${SERVICE}", service).replace("$SERVICE", service) for arg in argv]
            cwd = _target(context, workdir, ".")
            result = subprocess.run(
                [uv, *argv[1:], "--dry-run", "--offline"],
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            runs.append(SyncRun(argv, result.returncode, result.stdout + result.stderr))
    return runs
