"""Private RabbitMQ nodes and PostgreSQL clusters that a test starts, stops and restarts as it likes.

Outage tests use these, never the shared servers named by POLLER_TEST_PG_URL or
POLLER_TEST_AMQP_URL: each instance has its own node name, ports, data directory and (for
RabbitMQ) its own epmd, everything on 127.0.0.1, and ``close`` stops only what was started here.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


class ServerUnavailable(RuntimeError):
    """A private server cannot be started here (missing binary or a failed start); the message says why."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, timeout: float, alive: subprocess.Popen[bytes] | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        if alive is not None and alive.poll() is not None:
            return False
        time.sleep(0.1)
    return False


def _rabbit_binary(name: str) -> str | None:
    """The RabbitMQ script itself: Debian's /usr/sbin wrappers would switch to the rabbitmq user and its home."""
    direct = Path("/usr/lib/rabbitmq/bin") / name
    if direct.exists():
        return str(direct)
    return shutil.which(name)


class PrivateRabbit:
    """One RabbitMQ node of our own: own node name, AMQP/distribution/epmd ports, Mnesia and logs in a temp dir."""

    def __init__(self) -> None:
        server, ctl, epmd = _rabbit_binary("rabbitmq-server"), _rabbit_binary("rabbitmqctl"), shutil.which("epmd")
        if server is None or ctl is None or epmd is None:
            raise ServerUnavailable("rabbitmq-server, rabbitmqctl or epmd is not installed")
        self.ctl_binary, self.epmd_binary, self.server_binary = ctl, epmd, server
        self.base = Path(tempfile.mkdtemp(prefix="poller-rabbit-"))
        self.port, self.dist_port, self.epmd_port = free_port(), free_port(), free_port()
        self.node = f"poller_test_{os.getpid()}_{self.port}@localhost"
        (self.base / "enabled_plugins").write_text("[].\n")
        (self.base / "rabbitmq-env.conf").write_text("")
        self.env = {
            **os.environ,
            "HOME": str(self.base),  # the Erlang cookie of this node and its rabbitmqctl lives here
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.base / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(self.base / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            "RABBITMQ_PLUGINS_EXPAND_DIR": str(self.base / "plugins-expand"),
            "RABBITMQ_PID_FILE": str(self.base / "rabbit.pid"),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The AMQP URL of this node (the default guest user, allowed from loopback)."""
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def start(self, timeout: float = 120.0) -> None:
        """Start the node and wait until its applications run; raise ServerUnavailable if it does not come up."""
        log = open(self.base / "server.out", "ab")  # noqa: SIM115 - kept open by the child
        self.proc = subprocess.Popen(
            [self.server_binary], env=self.env, cwd=self.base, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        log.close()
        try:
            self.ctl("wait", "--timeout", str(int(timeout)), str(self.base / "rabbit.pid"), timeout=timeout + 10)
            self.ctl("await_startup", "--timeout", str(int(timeout)), timeout=timeout + 10)
        except (subprocess.SubprocessError, OSError) as exc:
            tail = (self.base / "server.out").read_text(errors="replace")[-600:]
            self.close()
            raise ServerUnavailable(f"private RabbitMQ node did not start: {exc}; {tail}") from None

    def ctl(self, *args: str, timeout: float = 120.0) -> str:
        """Run ``rabbitmqctl -n NODE args`` against this node only; raise CalledProcessError on failure."""
        done = subprocess.run(
            [self.ctl_binary, "-n", self.node, *args], env=self.env, cwd=self.base,
            capture_output=True, text=True, timeout=timeout, check=True,
        )
        return done.stdout

    def close(self) -> None:
        """Stop this node and its epmd (nothing else), and remove its directory."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                self.ctl("stop", timeout=60)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            subprocess.run(
                [self.epmd_binary, "-port", str(self.epmd_port), "-kill"], env=self.env,
                capture_output=True, timeout=10, check=False,
            )
        shutil.rmtree(self.base, ignore_errors=True)


def _postgres_bindir() -> Path | None:
    """The newest installed PostgreSQL server binaries (Debian's /usr/lib/postgresql/N/bin), else PATH."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("pg_ctl")
    return Path(found).parent if found else None


class PrivatePostgres:
    """One PostgreSQL cluster of our own: initdb in a temp dir, its own port and socket dir, 127.0.0.1 only.

    As root the cluster runs as the ``postgres`` user (PostgreSQL refuses root); otherwise as the caller.
    Authentication is ``trust`` for the local superuser ``postgres``.
    """

    def __init__(self) -> None:
        bindir = _postgres_bindir()
        if bindir is None or not (bindir / "initdb").exists():
            raise ServerUnavailable("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        self.bindir = bindir
        self.run_as: str | None = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise ServerUnavailable("running as root and there is no postgres user to run PostgreSQL") from None
            self.run_as = "postgres"
        self.base = Path(tempfile.mkdtemp(prefix="poller-pg-"))
        if self.run_as is not None:
            shutil.chown(self.base, self.run_as, self.run_as)
        self.data = self.base / "data"
        self.port = free_port()
        self.started = False

    @property
    def admin_url(self) -> str:
        """A SQLAlchemy URL of the ``postgres`` database of this cluster, as its superuser."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        command = list(args)
        if self.run_as is not None:
            command = ["runuser", "-u", self.run_as, "--", *command]
        return subprocess.run(command, cwd=self.base, capture_output=True, text=True, timeout=timeout, check=False)

    def _pg_ctl(self, *args: str, timeout: float = 120.0) -> None:
        done = self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), *args, timeout=timeout)
        if done.returncode != 0:
            raise ServerUnavailable(f"pg_ctl {args[-1]} failed: {(done.stdout + done.stderr).strip()[-400:]}")

    def init(self) -> None:
        """Create the cluster's data directory (initdb)."""
        done = self._run(
            str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
            "--no-sync", timeout=180,
        )
        if done.returncode != 0:
            raise ServerUnavailable(f"initdb failed: {(done.stdout + done.stderr).strip()[-400:]}")

    def start(self) -> None:
        """Start the cluster and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._pg_ctl("-l", str(self.base / "server.log"), "-w", "-t", "120", "-o", options, "start", timeout=150)
        self.started = True

    def stop(self, mode: str = "fast") -> None:
        """Stop the cluster (``fast`` rolls back open transactions; ``immediate`` is a crash of the server)."""
        self._pg_ctl("-w", "-t", "120", "-m", mode, "stop", timeout=150)
        self.started = False

    def close(self) -> None:
        """Stop the cluster if it runs and remove its directory."""
        if self.started:
            with contextlib.suppress(ServerUnavailable, subprocess.SubprocessError, OSError):
                self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)
