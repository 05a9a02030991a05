"""Fault-injection harness: private RabbitMQ and Postgres servers, service processes, counts.

The fault suite kills and restarts real servers, so it never uses the machine's own
RabbitMQ node (:5672) or Postgres cluster (:5432). Instead it starts:

- :class:`RabbitNode`: a private ``rabbitmq-server`` node (own node name, ports, data,
  logs, feature flags and a plugins file enabling only the consistent-hash exchange)
  under a temporary folder;
- :class:`PostgresCluster`: a private cluster made by ``initdb`` and run by ``postgres``;
- :class:`ServiceProcess`: a Lectern service (``.venv/bin/lectern-*``) as a subprocess;

and counts outcomes Jepsen-style with :func:`count_outcomes` (as RabbitMQ's Jepsen queue
checker does: *lost* = confirmed but never stored, *duplicated* = stored more than once,
*unexpected* = stored but never sent, *recovered* = stored though never confirmed).

Every server and service is started with ``PR_SET_PDEATHSIG`` (from one long-lived
thread), so even a SIGKILLed pytest leaves no beam or postgres process behind; the
fixtures in ``conftest.py`` also stop them on teardown.

Everything here is synchronous (subprocess calls): from async tests, call the slow
methods through ``await asyncio.to_thread(node.restart)`` so the event loop keeps
running (client reconnects, in-flight publishes).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final, Literal

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
VENV_BIN: Final = REPO_ROOT / ".venv" / "bin"
MODELS_DIR: Final = REPO_ROOT.parent / "shared" / "models"
DENSE_MODEL_PATH: Final = MODELS_DIR / "all-MiniLM-L6-v2-onnx"
SPARSE_MODEL_PATH: Final = MODELS_DIR / "bm25"

RABBITMQ_SBIN: Final = Path("/usr/lib/rabbitmq/bin")
"""The real RabbitMQ scripts; ``/usr/sbin/rabbitmq-server`` would log to the machine's files."""
PG_BIN: Final = Path("/usr/lib/postgresql/15/bin")
RABBITMQ_USER: Final = "rabbitmq"
POSTGRES_USER: Final = "postgres"
REQUIRED_FEATURE_FLAGS: Final = ("quorum_queue", "stream_queue")
"""Flags at-least-once dead-lettering of quorum queues needs (RabbitMQ 3.10 docs)."""
RA_DIRECTORY_SAVE_S: Final = 0.5
"""Ra 2.2 (RabbitMQ 3.10.8) writes a new quorum queue's name registration to its DETS
directory with ``auto_save`` 500 ms. A node SIGKILLed within that window after a quorum
queue is declared restarts with the queue leaderless for good ("leader not known"), so
scenarios wait at least this long after declaring before :meth:`RabbitNode.kill`."""

OWNER_FILE: Final = "owner.pid"
_PR_SET_PDEATHSIG: Final = 1
_LIBC = ctypes.CDLL(None, use_errno=True)
_SYSTEM_PATH: Final = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class HarnessError(RuntimeError):
    """A server or service did not start, stop or answer as expected."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago (bind to port 0).

    Returns:
        The port number.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.2) -> bool:
    """Return whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(
    predicate: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.2,
    message: str = "condition",
) -> None:
    """Poll ``predicate`` until it returns true.

    Args:
        predicate: the condition; exceptions it raises count as false.
        timeout: seconds before giving up.
        interval: seconds between polls.
        message: what is awaited, for the error.

    Raises:
        TimeoutError: the condition did not hold within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            if predicate():
                return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{message} not reached within {timeout:.0f} s")
        time.sleep(interval)


def make_base_dir(prefix: str = "lectern-faults-") -> Path:
    """Create a temporary folder the ``rabbitmq`` and ``postgres`` users can traverse.

    pytest's own temporary folders are private to root (mode 0700), so servers running
    as other users cannot use them. The folder records its owner's pid; folders of
    owners that died without cleaning up (SIGKILLed pytest) are removed first.

    Args:
        prefix: folder name prefix, under the system temporary folder.

    Returns:
        The new folder (mode 0755).
    """
    tmp = Path(tempfile.gettempdir())
    for stale in tmp.glob(f"{prefix}*"):
        with contextlib.suppress(OSError, ValueError):
            owner = int((stale / OWNER_FILE).read_text())
            if not Path(f"/proc/{owner}").exists():
                remove_tree(stale)
    base = Path(tempfile.mkdtemp(prefix=prefix, dir=tmp))
    base.chmod(0o755)
    (base / OWNER_FILE).write_text(str(os.getpid()))
    return base


def _chown_tree(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in (*dirs, *files):
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)


_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="faults-spawner")
"""Every server and service is forked from this one long-lived thread: the kernel ties
``PR_SET_PDEATHSIG`` to the forking *thread*, so a child forked from a short-lived
thread (``asyncio.to_thread``, ``threading.Thread``) would be killed when it ends."""


def _death_signal(sig: int) -> Callable[[], None]:
    """A ``preexec_fn`` asking the kernel to send ``sig`` to the child when we die."""

    def preexec() -> None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)

    return preexec


def _popen(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    log: IO[bytes],
    cwd: Path,
    user: str | None = None,
    death_signal: int = signal.SIGKILL,
    new_session: bool = False,
) -> subprocess.Popen[bytes]:
    kwargs: dict[str, object] = {}
    if user is not None:
        entry = pwd.getpwnam(user)
        kwargs |= {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def spawn() -> subprocess.Popen[bytes]:
        return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_death_signal(death_signal),
            start_new_session=new_session,
            **kwargs,
        )

    return _SPAWNER.submit(spawn).result()


def _tail(path: Path, lines: int) -> str:
    if not path.exists():
        return f"({path} does not exist)"
    text = path.read_text(errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def _wait_exit(process: subprocess.Popen[bytes], timeout: float) -> bool:
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return False
    return True


# --------------------------------------------------------------------------- RabbitMQ


class RabbitNode:
    """A private RabbitMQ node (``rabbitmq-server``) under a temporary folder.

    The node gets its own node name, AMQP and distribution ports, Mnesia/Ra data, logs,
    feature-flags file and a plugins file (``rabbitmq_consistent_hash_exchange`` only);
    it shares only the Erlang cookie and ``epmd`` with the machine's node. It runs as
    the ``rabbitmq`` user.

    Usage::

        node = RabbitNode(base_dir / "rabbitmq")
        node.start()
        node.kill()       # SIGKILL the beam process
        node.start()      # same data, same ports
        node.close()
    """

    def __init__(
        self, root: Path, *, name: str | None = None, advanced_config: str | None = None
    ) -> None:
        """Prepare (not start) a node.

        Args:
            root: folder for the node's files; created and given to ``rabbitmq``.
            name: node name; defaults to ``lectern-faults-<random>@localhost``.
            advanced_config: Erlang-term ``advanced.config`` text, e.g.
                ``"[{rabbit, [{dead_letter_worker_publisher_confirm_timeout, 5000}]}]."``;
                by default none (RabbitMQ's defaults, as in production).
        """
        self.root = root
        self.advanced_config = advanced_config
        self.node_name = name or f"lectern-faults-{uuid.uuid4().hex[:8]}@localhost"
        self.amqp_port = free_port()
        self.dist_port = free_port()
        self.log_dir = root / "log"
        self.stdout_path = root / "stdout.log"
        self.pid_file = root / "rabbitmq.pid"
        self._process: subprocess.Popen[bytes] | None = None
        self._stdout: IO[bytes] | None = None
        self.starts = 0
        self._prepare()

    # -- configuration

    def _prepare(self) -> None:
        for sub in ("mnesia", "log"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        # The indexer's shards sit behind a consistent-hash exchange (lectern.topology).
        (self.root / "enabled_plugins").write_text("[rabbitmq_consistent_hash_exchange].\n")
        if self.advanced_config:
            (self.root / "advanced.config").write_text(self.advanced_config + "\n")
        (self.root / "rabbitmq-env.conf").write_text("# private fault-suite node\n")
        (self.root / "rabbitmq.conf").write_text(
            "\n".join(
                (
                    f"listeners.tcp.default = 127.0.0.1:{self.amqp_port}",
                    "loopback_users.guest = true",
                    "disk_free_limit.absolute = 50MB",
                    "log.console = false",
                    "log.file.level = info",
                    "",
                )
            )
        )
        _chown_tree(self.root, RABBITMQ_USER)

    @property
    def env(self) -> dict[str, str]:
        """The environment ``rabbitmq-server`` runs with (no inherited ``RABBITMQ_*``)."""
        return {
            "HOME": pwd.getpwnam(RABBITMQ_USER).pw_dir,  # the shared Erlang cookie
            "PATH": _SYSTEM_PATH,
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODENAME": self.node_name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.amqp_port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.log_dir),
            "RABBITMQ_FEATURE_FLAGS_FILE": str(self.root / "feature_flags"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.root / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.root / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(self.root / "rabbitmq-env.conf"),
            "RABBITMQ_PID_FILE": str(self.pid_file),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    @property
    def amqp_url(self) -> str:
        """AMQP URL of the node's default vhost (``guest``/``guest``)."""
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/"

    def vhost_url(self, vhost: str) -> str:
        """AMQP URL of ``vhost`` on this node."""
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/{vhost}"

    @property
    def log_path(self) -> Path:
        """The node's main log file."""
        return self.log_dir / f"{self.node_name}.log"

    # -- process state

    @property
    def pid(self) -> int | None:
        """OS pid of the running ``beam.smp`` process, or ``None`` when it is not running.

        ``rabbitmq-server`` stays as a small shell wrapper (it turns SIGTERM into a
        graceful stop) and starts ``beam.smp`` as its child: the pid is that child of
        the wrapper the harness started (the node also writes it to :attr:`pid_file`).
        """
        if self._process is None or self._process.poll() is not None:
            return None
        children = _children(self._process.pid, "beam.smp")
        return children[0] if children else None

    @property
    def running(self) -> bool:
        """Whether the node's processes are alive (not necessarily booted)."""
        return self._process is not None and self._process.poll() is None

    def ctl(self, *args: str, timeout: float = 60, check: bool = True) -> str:
        """Run ``rabbitmqctl -n <node> <args>`` and return its standard output.

        Args:
            *args: the command and its arguments, e.g. ``"list_queues", "name"``.
            timeout: seconds before the command is abandoned.
            check: raise on a non-zero exit status.

        Raises:
            HarnessError: the command failed (with ``check``) or timed out.
        """
        argv = ["rabbitmqctl", "-q", "-n", self.node_name, *args]
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise HarnessError(f"{' '.join(argv)} timed out after {timeout} s") from exc
        if check and result.returncode != 0:
            raise HarnessError(
                f"{' '.join(argv)} exited {result.returncode}: {result.stderr or result.stdout}"
            )
        return result.stdout

    # -- lifecycle

    def start(self, timeout: float = 90) -> None:
        """Start the node (same data and ports as before) and wait until it has booted.

        Readiness: the AMQP port accepts connections and ``rabbitmqctl await_startup``
        succeeds.

        Raises:
            HarnessError: the node exited or did not boot within ``timeout`` seconds.
        """
        if self.running:
            return
        self._close_stdout()
        self.pid_file.unlink(missing_ok=True)
        self._stdout = open(self.stdout_path, "ab")  # noqa: SIM115 - closed on stop
        self._stdout.write(f"\n=== harness: start #{self.starts + 1} ===\n".encode())
        self._stdout.flush()
        self._process = _popen(
            [str(RABBITMQ_SBIN / "rabbitmq-server")],
            env=self.env,
            log=self._stdout,
            cwd=self.root,
            user=RABBITMQ_USER,
            # The wrapper turns SIGTERM into a graceful stop of beam: a dying pytest
            # leaves no node behind.
            death_signal=signal.SIGTERM,
        )
        self.starts += 1
        deadline = time.monotonic() + timeout
        process = self._process
        while not port_open(self.amqp_port):
            if process.poll() is not None:
                raise HarnessError(
                    f"{self.node_name} exited with {process.returncode}:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                self.kill()
                raise HarnessError(f"{self.node_name} did not boot:\n{self.log_tail()}")
            time.sleep(0.2)
        self.ctl("await_startup", "--timeout", str(max(5, int(deadline - time.monotonic()))))

    def stop(self, timeout: float = 60) -> None:
        """Stop the node gracefully (``rabbitmqctl stop``); SIGKILL it if that hangs."""
        if not self.running:
            self._reap()
            return
        with contextlib.suppress(HarnessError):
            self.ctl("stop", timeout=timeout)
        assert self._process is not None
        if not _wait_exit(self._process, timeout):
            self.kill()
        self._reap()

    def kill(self) -> None:
        """SIGKILL the beam process, as a crash or power loss would, and reap it.

        Declare quorum queues at least :data:`RA_DIRECTORY_SAVE_S` before a kill, or
        they come back leaderless (a RabbitMQ 3.10 limitation, not the harness's).
        Only the harness's own node is targeted: the pid is the ``beam.smp`` child of
        the ``rabbitmq-server`` process the harness started.
        """
        process = self._process
        if process is None or process.poll() is not None:
            self._reap()
            return
        pid = self.pid
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        else:  # still in the shell wrapper, before beam started
            process.kill()
        if not _wait_exit(process, 30):
            process.kill()
            process.wait(timeout=10)
        # beam's helper erl_child_setup exits with beam; epmd forgets the node once its
        # connection drops, so the same node name can start again at once.
        self._reap()

    def pause(self) -> None:
        """SIGSTOP the beam process: a hung broker that keeps its sockets open."""
        if self.pid is not None:
            os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT a node paused by :meth:`pause`."""
        if self.pid is not None:
            os.kill(self.pid, signal.SIGCONT)

    def restart(self, *, hard: bool = False, timeout: float = 90) -> None:
        """Stop (gracefully, or SIGKILL when ``hard``) and start the node again."""
        if hard:
            self.kill()
        else:
            self.stop()
        self.start(timeout=timeout)

    def ensure_started(self) -> None:
        """Start the node if a test left it stopped or paused."""
        self.resume()
        self.start()

    def close(self) -> None:
        """Stop the node for good (graceful first, SIGKILL as a fallback)."""
        if self.running:
            self.resume()
            try:
                self.stop(timeout=30)
            finally:
                self.kill()
        self._reap()

    def _reap(self) -> None:
        if self._process is not None and self._process.poll() is not None:
            self._process = None
        self._close_stdout()

    def _close_stdout(self) -> None:
        if self._stdout is not None and self._process is None:
            self._stdout.close()
            self._stdout = None

    # -- inspection

    def feature_flags(self) -> dict[str, str]:
        """Return every feature flag with its state (``enabled``/``disabled``)."""
        out = self.ctl("list_feature_flags", "name", "state", "--no-table-headers")
        flags: dict[str, str] = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2:
                flags[parts[0]] = parts[1]
        return flags

    def check_feature_flags(self, required: Iterable[str] = REQUIRED_FEATURE_FLAGS) -> None:
        """Raise unless every flag in ``required`` is enabled.

        Raises:
            HarnessError: a required flag is missing or disabled.
        """
        flags = self.feature_flags()
        missing = [name for name in required if flags.get(name) != "enabled"]
        if missing:
            raise HarnessError(f"feature flags not enabled on {self.node_name}: {missing}")

    def add_vhost(self, vhost: str | None = None) -> str:
        """Create a vhost with full ``guest`` permissions and return its AMQP URL.

        Args:
            vhost: name; defaults to ``faults-<random>``.
        """
        vhost = vhost or f"faults-{uuid.uuid4().hex[:8]}"
        self.ctl("add_vhost", vhost)
        self.ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        return self.vhost_url(vhost)

    def delete_vhost(self, vhost: str) -> None:
        """Delete a vhost (ignoring a missing one)."""
        self.ctl("delete_vhost", vhost, check=False)

    def list_queues(self, vhost: str = "/") -> dict[str, dict[str, int]]:
        """Return each queue's ``messages``, ``messages_ready``, ``unacked`` and ``consumers``.

        Args:
            vhost: the vhost to list.
        """
        out = self.ctl(
            "list_queues",
            "-p",
            vhost,
            "name",
            "messages",
            "messages_ready",
            "messages_unacknowledged",
            "consumers",
            "--no-table-headers",
        )
        queues: dict[str, dict[str, int]] = {}
        for line in out.splitlines():
            parts = line.split("\t")
            if len(parts) != 5:
                continue
            name, *numbers = parts
            values = [int(n) if n.strip().isdigit() else 0 for n in numbers]
            queues[name] = dict(
                zip(("messages", "ready", "unacked", "consumers"), values, strict=True)
            )
        return queues

    def log_tail(self, lines: int = 40) -> str:
        """Return the last lines of the node's stdout and main log."""
        return (
            f"--- {self.stdout_path} ---\n{_tail(self.stdout_path, lines)}\n"
            f"--- {self.log_path} ---\n{_tail(self.log_path, lines)}"
        )


# --------------------------------------------------------------------------- Postgres

PgStopMode = Literal["smart", "fast", "immediate"]


class PostgresCluster:
    """A private Postgres 15 cluster (``initdb`` + ``postgres``) under a temporary folder.

    It runs as the ``postgres`` user with trust authentication on ``127.0.0.1:<port>``
    and a private socket folder, with ``fsync=on`` so a crash keeps committed data.

    Usage::

        pg = PostgresCluster(base_dir / "postgres")
        pg.start()
        url = pg.create_database()
        pg.kill()        # SIGKILL postmaster and every backend
        pg.start()       # crash recovery, same data
        pg.close()
    """

    def __init__(self, root: Path) -> None:
        """Prepare (not start) a cluster; ``initdb`` runs on the first :meth:`start`.

        Args:
            root: folder for the cluster's files; created and given to ``postgres``.
        """
        self.root = root
        self.data_dir = root / "data"
        self.socket_dir = root / "socket"
        self.log_path = root / "postgres.log"
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.starts = 0
        root.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        _chown_tree(root, POSTGRES_USER)

    def url(self, database: str = "postgres") -> str:
        """A ``postgresql://`` URL of ``database`` on this cluster (user ``postgres``)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def database_url(self) -> str:
        """URL of the ``postgres`` database (use :meth:`create_database` for a fresh one)."""
        return self.url()

    @property
    def pid(self) -> int | None:
        """OS pid of the running postmaster, or ``None``."""
        if self._process is None or self._process.poll() is not None:
            return None
        return self._process.pid

    @property
    def running(self) -> bool:
        """Whether the postmaster is alive."""
        return self.pid is not None

    def _run_as_postgres(self, argv: Sequence[str], timeout: float = 120) -> str:
        entry = pwd.getpwnam(POSTGRES_USER)
        result = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            user=entry.pw_uid,
            group=entry.pw_gid,
            extra_groups=[],
            cwd=self.root,
            env={"PATH": _SYSTEM_PATH, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"},
        )
        if result.returncode != 0:
            raise HarnessError(f"{' '.join(argv)} exited {result.returncode}: {result.stderr}")
        return result.stdout

    def init(self) -> None:
        """Create the cluster with ``initdb`` (once; as the ``postgres`` user)."""
        if (self.data_dir / "PG_VERSION").exists():
            return
        self._run_as_postgres(
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-instructions",
            ]
        )

    def start(self, timeout: float = 60) -> None:
        """Start the postmaster and wait until it accepts connections.

        The postmaster is the harness's own child (``postgres -D ...``, not
        ``pg_ctl start``), in its own session, so :meth:`kill` can take down the whole
        process group and a dying pytest takes it down too.

        Raises:
            HarnessError: postgres exited or was not ready within ``timeout`` seconds.
        """
        if self.running:
            return
        self.init()
        self._close_log()
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed on stop
        self._log.write(f"\n=== harness: start #{self.starts + 1} ===\n".encode())
        self._log.flush()
        process = _popen(
            [
                str(PG_BIN / "postgres"),
                "-D",
                str(self.data_dir),
                "-p",
                str(self.port),
                "-k",
                str(self.socket_dir),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=on",
                "-c",
                "synchronous_commit=on",
                "-c",
                "max_connections=100",
            ],
            env={"PATH": _SYSTEM_PATH, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"},
            log=self._log,
            cwd=self.root,
            user=POSTGRES_USER,
            death_signal=signal.SIGQUIT,  # immediate shutdown of postmaster and backends
            new_session=True,
        )
        self._process = process
        self.starts += 1
        deadline = time.monotonic() + timeout
        while not self.ready():
            if process.poll() is not None:
                raise HarnessError(f"postgres exited with {process.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise HarnessError(f"postgres not ready in {timeout} s:\n{self.log_tail()}")
            time.sleep(0.1)

    def ready(self) -> bool:
        """Whether the cluster accepts connections (``pg_isready``)."""
        result = subprocess.run(
            [
                str(PG_BIN / "pg_isready"),
                "-q",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
            ],
            capture_output=True,
            timeout=10,
        )
        return result.returncode == 0

    def stop(self, mode: PgStopMode = "fast", timeout: float = 60) -> None:
        """Stop the cluster with ``pg_ctl stop -m <mode>`` and wait for the postmaster.

        Args:
            mode: ``fast`` (rolls back sessions, checkpoints), ``smart`` (waits for
                clients) or ``immediate`` (no checkpoint: crash recovery on next start).
            timeout: seconds before falling back to :meth:`kill`.
        """
        if not self.running:
            self._reap()
            return
        with contextlib.suppress(HarnessError, subprocess.TimeoutExpired):
            self._run_as_postgres(
                [
                    str(PG_BIN / "pg_ctl"),
                    "stop",
                    "-D",
                    str(self.data_dir),
                    "-m",
                    mode,
                    "-w",
                    "-t",
                    str(int(timeout)),
                ],
                timeout=timeout + 5,
            )
        assert self._process is not None
        if not _wait_exit(self._process, 10):
            self.kill()
        self._reap()

    def kill(self) -> None:
        """SIGKILL the postmaster and every backend at once (a crash) and reap them."""
        pid = self.pid
        if pid is None:
            self._reap()
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)  # its own session: pgid == postmaster pid
        assert self._process is not None
        self._process.wait(timeout=30)
        wait_until(
            lambda: not _group_alive(pid), timeout=30, interval=0.05, message="backends exit"
        )
        self._reap()

    def pause(self) -> None:
        """SIGSTOP the postmaster and its backends: a hung database keeping its sockets."""
        if self.pid is not None:
            os.killpg(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT a cluster paused by :meth:`pause`."""
        if self.pid is not None:
            os.killpg(self.pid, signal.SIGCONT)

    def restart(self, *, mode: PgStopMode | Literal["kill"] = "fast", timeout: float = 60) -> None:
        """Stop (``pg_ctl -m mode``, or SIGKILL for ``"kill"``) and start again."""
        if mode == "kill":
            self.kill()
        else:
            self.stop(mode)
        self.start(timeout=timeout)

    def ensure_started(self) -> None:
        """Start the cluster if a test left it stopped or paused."""
        self.resume()
        self.start()

    def close(self) -> None:
        """Stop the cluster for good (fast, SIGKILL as a fallback)."""
        if self.running:
            self.resume()
            try:
                self.stop("fast", timeout=30)
            finally:
                self.kill()
        self._reap()

    def _reap(self) -> None:
        if self._process is not None and self._process.poll() is not None:
            self._process = None
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None and self._process is None:
            self._log.close()
            self._log = None

    # -- SQL helpers (psql; for assertions, not for speed)

    def psql(self, sql: str, database: str = "postgres", timeout: float = 30) -> str:
        """Run ``sql`` with ``psql`` and return unaligned, tuples-only output.

        Raises:
            HarnessError: psql failed.
        """
        result = subprocess.run(
            ["psql", self.url(database), "-X", "-qAt", "-v", "ON_ERROR_STOP=1", "-c", sql],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise HarnessError(f"psql failed: {result.stderr}")
        return result.stdout

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database and return its URL.

        Args:
            name: database name; defaults to ``faults_<random>``.
        """
        name = name or f"faults_{uuid.uuid4().hex[:8]}"
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, closing its connections (ignores a missing one)."""
        with contextlib.suppress(HarnessError):
            self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def log_tail(self, lines: int = 40) -> str:
        """Return the last lines of the server log."""
        return f"--- {self.log_path} ---\n{_tail(self.log_path, lines)}"


def _children(ppid: int, comm: str) -> list[int]:
    """Return the pids of ``ppid``'s children whose command name is ``comm``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces, so split at the last ")".
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        if name == comm and int(fields[1]) == ppid:
            found.append(int(entry.name))
    return sorted(found)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --------------------------------------------------------------------------- services

SERVICE_NAMES: Final = ("gateway", "indexer", "session-logger")


def service_env(
    *,
    rabbitmq_url: str,
    database_url: str | None = None,
    qdrant_path: Path | None = None,
    gateway_port: int | None = None,
    **extra: str,
) -> dict[str, str]:
    """Build the environment of a Lectern service process.

    Starts from ``os.environ`` (minus ``QDRANT_URL``, so the embedded store is used),
    points at the offline models, and logs JSON at INFO.

    Args:
        rabbitmq_url: ``RABBITMQ_URL``.
        database_url: ``DATABASE_URL`` (session-logger).
        qdrant_path: ``QDRANT_PATH`` (indexer's embedded store).
        gateway_port: ``GATEWAY_PORT``.
        **extra: more variables, e.g. ``SHUTDOWN_GRACE_S="5"``.

    Returns:
        The environment mapping.
    """
    env = {k: v for k, v in os.environ.items() if k != "QDRANT_URL"}
    env |= {
        "RABBITMQ_URL": rabbitmq_url,
        "EMBEDDING_MODEL_PATH": str(DENSE_MODEL_PATH),
        "SPARSE_MODEL_PATH": str(SPARSE_MODEL_PATH),
        "LOG_JSON": "true",
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    if qdrant_path is not None:
        env["QDRANT_PATH"] = str(qdrant_path)
    if gateway_port is not None:
        env["GATEWAY_PORT"] = str(gateway_port)
    env |= extra
    return env


class ServiceProcess:
    """A Lectern service (``.venv/bin/lectern-<name>``) run as a subprocess.

    Its stdout and stderr go to ``<log_dir>/<name>.log``, appended across restarts with
    a marker line per start.

    Usage::

        indexer = ServiceProcess("indexer", env, log_dir)
        indexer.start()
        indexer.wait_for_log("started", timeout=60)
        indexer.kill()        # SIGKILL
        indexer.restart()
        code = indexer.terminate()   # SIGTERM, wait, exit status
    """

    def __init__(
        self,
        name: str,
        env: Mapping[str, str],
        log_dir: Path,
        *,
        args: Sequence[str] = (),
        executable: Path | None = None,
    ) -> None:
        """Prepare (not start) a service process.

        Args:
            name: ``"gateway"``, ``"indexer"`` or ``"session-logger"`` (or any label when
                ``executable`` is given).
            env: its environment (see :func:`service_env`).
            log_dir: folder of its log file.
            args: command-line arguments (e.g. ``["retention"]``).
            executable: program to run; defaults to ``.venv/bin/lectern-<name>``.
        """
        self.name = name
        self.env = dict(env)
        self.args = list(args)
        self.executable = executable or VENV_BIN / f"lectern-{name}"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{name}.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.starts = 0
        self._log_offset = 0

    @property
    def pid(self) -> int | None:
        """OS pid while running, else ``None``."""
        if self._process is None or self._process.poll() is not None:
            return None
        return self._process.pid

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self.pid is not None

    @property
    def returncode(self) -> int | None:
        """Exit status of the last run (negative: killed by that signal), or ``None``."""
        return None if self._process is None else self._process.poll()

    @property
    def port(self) -> int | None:
        """``GATEWAY_PORT`` from the environment, if any."""
        value = self.env.get("GATEWAY_PORT")
        return int(value) if value else None

    def start(self) -> None:
        """Start the process (no-op when running); its log continues the same file."""
        if self.running:
            return
        if self._log is not None:
            self._log.close()
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed on exit
        self._log_offset = self._log.tell()
        self._log.write(f"=== harness: start #{self.starts + 1} of {self.name} ===\n".encode())
        self._log.flush()
        self._process = _popen(
            [str(self.executable), *self.args],
            env=self.env,
            log=self._log,
            cwd=REPO_ROOT,
            death_signal=signal.SIGKILL,
        )
        self.starts += 1

    def terminate(self, timeout: float = 30) -> int:
        """Send SIGTERM, wait up to ``timeout`` seconds (then SIGKILL) and return the status.

        Returns:
            The exit status (negative for death by signal); ``0`` if it was not running.
        """
        return self.signal(signal.SIGTERM, timeout=timeout)

    def kill(self) -> int:
        """SIGKILL the process and return its exit status (``-9``)."""
        return self.signal(signal.SIGKILL, timeout=30)

    def signal(self, sig: int, timeout: float = 30) -> int:
        """Send ``sig`` and wait for exit, SIGKILLing after ``timeout`` seconds.

        Returns:
            The exit status (``0`` if the process was not running).
        """
        process = self._process
        if process is None:
            return 0
        if process.poll() is None:
            process.send_signal(sig)
            if not _wait_exit(process, timeout):
                process.kill()
                process.wait()
        code = int(process.returncode)
        if self._log is not None:
            self._log.close()
            self._log = None
        return code

    def restart(self, *, hard: bool = False, timeout: float = 30) -> None:
        """Stop (SIGTERM, or SIGKILL when ``hard``) and start again."""
        if hard:
            self.kill()
        else:
            self.terminate(timeout=timeout)
        self.start()

    def pause(self) -> None:
        """SIGSTOP the process (hung, sockets open)."""
        if self.pid is not None:
            os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT a paused process."""
        if self.pid is not None:
            os.kill(self.pid, signal.SIGCONT)

    def log_text(self, *, since_start: bool = True) -> str:
        """Return the log (by default only what the current run wrote)."""
        if not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as handle:
            if since_start:
                handle.seek(self._log_offset)
            return handle.read().decode(errors="replace")

    def wait_for_log(self, pattern: str, *, timeout: float = 60) -> re.Match[str]:
        """Wait until the current run's log matches the regular expression ``pattern``.

        Returns:
            The first match.

        Raises:
            HarnessError: the process exited first.
            TimeoutError: no match within ``timeout`` seconds.
        """
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            match = regex.search(self.log_text())
            if match is not None:
                return match
            if not self.running:
                raise HarnessError(
                    f"{self.name} exited ({self.returncode}) before logging "
                    f"{pattern!r}:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} did not log {pattern!r}:\n{self.log_tail()}")
            time.sleep(0.2)

    def wait_http_ok(
        self,
        path: str = "/health/ready",
        *,
        timeout: float = 120,
        accept: Callable[[Any], bool] | None = None,
    ) -> None:
        """Wait until ``GET http://127.0.0.1:<GATEWAY_PORT><path>`` answers 200.

        ``accept``, when given, must also hold for the response's JSON body (e.g. every
        dependency up in ``/health/dependencies``).

        Raises:
            HarnessError: the process exited first.
            TimeoutError: no 200 within ``timeout`` seconds.
        """
        import httpx

        if self.port is None:
            raise HarnessError(f"{self.name} has no GATEWAY_PORT")
        url = f"http://127.0.0.1:{self.port}{path}"

        def ok() -> bool:
            if not self.running:
                raise HarnessError(f"{self.name} exited ({self.returncode}):\n{self.log_tail()}")
            try:
                response = httpx.get(url, timeout=5)
            except httpx.TransportError:
                return False
            return response.status_code == 200 and (accept is None or bool(accept(response.json())))

        deadline = time.monotonic() + timeout
        while not ok():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} not 200 within {timeout} s:\n{self.log_tail()}")
            time.sleep(0.3)

    def log_tail(self, lines: int = 40) -> str:
        """Return the last lines of the log file."""
        return f"--- {self.log_path} ---\n{_tail(self.log_path, lines)}"


class ServiceGroup:
    """Starts :class:`ServiceProcess` objects for one test and stops them all at the end.

    Usage::

        services = ServiceGroup(log_dir)
        indexer = services.start("indexer", env)
        second = services.start("indexer", env, label="indexer-2")
        services.close()          # SIGTERM (then SIGKILL) whatever still runs
    """

    def __init__(self, log_dir: Path) -> None:
        """Create an empty group logging under ``log_dir``."""
        self.log_dir = log_dir
        self.processes: dict[str, ServiceProcess] = {}

    def start(
        self,
        name: str,
        env: Mapping[str, str],
        *,
        label: str | None = None,
        args: Sequence[str] = (),
    ) -> ServiceProcess:
        """Start service ``name`` and return it.

        Args:
            name: ``"gateway"``, ``"indexer"`` or ``"session-logger"``.
            env: its environment (see :func:`service_env`).
            label: unique label (log file name) when running several of one service.
            args: command-line arguments.

        Raises:
            HarnessError: ``label`` is already in use.
        """
        label = label or name
        if label in self.processes:
            raise HarnessError(f"a service labelled {label!r} already exists")
        process = ServiceProcess(
            label, env, self.log_dir, args=args, executable=VENV_BIN / f"lectern-{name}"
        )
        self.processes[label] = process
        process.start()
        return process

    def __getitem__(self, label: str) -> ServiceProcess:
        return self.processes[label]

    def log_tails(self, lines: int = 40) -> str:
        """Return the last lines of every service's log."""
        return "\n".join(p.log_tail(lines) for p in self.processes.values())

    def close(self, timeout: float = 15) -> None:
        """SIGTERM every running service (SIGKILL after ``timeout`` seconds)."""
        for process in self.processes.values():
            process.resume()
            process.terminate(timeout=timeout)


# --------------------------------------------------------------------------- counting


@dataclass(frozen=True)
class Counts:
    """Outcome of a fault scenario, counted as RabbitMQ's Jepsen queue checker does.

    Attributes:
        scenario: scenario name.
        sent: distinct ids the client attempted to send.
        confirmed: distinct ids the system acknowledged (publisher confirm, HTTP 2xx).
        stored: distinct ids found in the store at the end.
        lost: confirmed but not stored: must be 0.
        duplicated: ids stored more than once (e.g. a consumer's side-effect log).
        unexpected: stored but never sent: must be 0.
        recovered: stored though never confirmed (allowed: at-least-once).
    """

    scenario: str
    sent: int
    confirmed: int
    stored: int
    lost: int
    duplicated: int
    unexpected: int
    recovered: int
    lost_ids: tuple[str, ...] = ()
    unexpected_ids: tuple[str, ...] = ()

    @property
    def line(self) -> str:
        """The one-line summary, e.g. ``scenario=x sent=10 confirmed=10 stored=10 ...``."""
        return (
            f"scenario={self.scenario} sent={self.sent} confirmed={self.confirmed} "
            f"stored={self.stored} lost={self.lost} duplicated={self.duplicated} "
            f"unexpected={self.unexpected} recovered={self.recovered}"
        )

    @property
    def ok(self) -> bool:
        """Whether nothing confirmed was lost and nothing unexpected appeared."""
        return self.lost == 0 and self.unexpected == 0

    def __str__(self) -> str:
        return self.line


REPORTED: list[str] = []
"""Every line passed to :func:`report` in this run (printed in pytest's summary)."""


def report(line: str) -> None:
    """Print a scenario's figures and keep them for the end-of-run summary."""
    REPORTED.append(line)
    print(line, flush=True)


def count_outcomes(
    scenario: str,
    *,
    sent: Iterable[object],
    confirmed: Iterable[object],
    stored: Iterable[object],
    echo: bool = True,
) -> Counts:
    """Count a scenario's outcome and print its summary line.

    Ids are compared as strings, so UUIDs and their text compare equal.

    Args:
        scenario: scenario name for the line.
        sent: every id the client tried to send (confirmed or not).
        confirmed: ids the system acknowledged.
        stored: ids read back from the store, one per stored copy (repeat an id to
            report a duplicate).
        echo: print the line (shown by pytest with ``-s`` or in a failure report).

    Returns:
        The :class:`Counts`; assert ``counts.ok`` (and ``counts.duplicated == 0`` where
        the store must be idempotent).
    """
    sent_ids = {str(i) for i in sent}
    confirmed_ids = {str(i) for i in confirmed}
    copies = Counter(str(i) for i in stored)
    stored_ids = set(copies)
    lost = confirmed_ids - stored_ids
    unexpected = stored_ids - sent_ids - confirmed_ids
    counts = Counts(
        scenario=scenario,
        sent=len(sent_ids | confirmed_ids),
        confirmed=len(confirmed_ids),
        stored=len(stored_ids),
        lost=len(lost),
        duplicated=sum(1 for n in copies.values() if n > 1),
        unexpected=len(unexpected),
        recovered=len(stored_ids & (sent_ids - confirmed_ids)),
        lost_ids=tuple(sorted(lost)[:20]),
        unexpected_ids=tuple(sorted(unexpected)[:20]),
    )
    if echo:
        report(counts.line)
    return counts


def remove_tree(path: Path) -> None:
    """Delete a harness folder (files may belong to ``rabbitmq`` or ``postgres``)."""
    shutil.rmtree(path, ignore_errors=True)
