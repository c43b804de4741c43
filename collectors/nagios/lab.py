"""A real Nagios Core and Apache on 127.0.0.1, started from the installed binaries, for tests and the demo.

Owns writing a small Nagios object configuration (hosts with parents, services whose
check is a script reading its exit code from a file the caller sets), a main config
with its own status, state, command-file and lock paths in one directory, an Apache
config serving the JSON CGIs with basic auth on a free loopback port, and starting and
stopping both processes. Never touches the system's own Nagios or Apache instances and
never listens beyond 127.0.0.1.
"""

from __future__ import annotations

import base64
import grp
import hashlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

NAGIOS_BIN = "/usr/sbin/nagios4"
APACHE_BIN = "/usr/sbin/apache2"
APACHE_MODULES = "/usr/lib/apache2/modules"
CGI_DIR = "/usr/lib/cgi-bin/nagios4"
MODULES = ("mpm_prefork", "authz_core", "authn_core", "auth_basic", "authn_file", "authz_user", "alias", "cgi",
           "env")
# Exit codes are the plugin API's: 0 OK/UP, 1 WARNING, 2 CRITICAL (DOWN for a host), 3 UNKNOWN.
CHECK_SCRIPT = """#!/bin/sh
code=$(cat "$1" 2>/dev/null || echo 0)
echo "lab check exit $code|value=$$"
exit "$code"
"""


class LabError(Exception):
    """Nagios or Apache could not be started (the message says which and why)."""


@dataclass(frozen=True)
class LabHost:
    """A host of the lab: its name, address and parent hosts."""

    name: str
    address: str = "127.0.0.1"
    parents: tuple[str, ...] = ()


@dataclass(frozen=True)
class LabService:
    """A service of the lab, checked by the lab's script."""

    host: str
    description: str


@dataclass
class NagiosLab:
    """One Nagios Core and one Apache serving its CGIs, both living in ``workdir``.

    ``set_host``/``set_service`` write the exit code the next check returns and
    ``force_host_check``/``force_service_check`` ask Nagios for that check now through
    its external command file. The event handlers name command lines run by Nagios on
    every state change (``$HOSTNAME$``, ``$SERVICEDESC$``... macros are expanded):
    ``host_event_handler`` for hosts, ``service_event_handler`` for services.
    ``extra_objects`` is more object configuration (its own file), ``main_options`` more
    ``nagios.cfg`` lines (later lines win), ``contacts`` the contacts of every host and service.
    """

    hosts: Sequence[LabHost]
    services: Sequence[LabService]
    workdir: Path | None = None
    username: str = "poller"
    password: str = "lab-secret"
    check_interval: int = 2
    host_event_handler: str | None = None
    service_event_handler: str | None = None
    extra_objects: str = ""
    main_options: Sequence[str] = ()
    contacts: Sequence[str] = ("lab",)
    port: int = 0
    _nagios: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _apache: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _own_dir: bool = field(default=False, init=False, repr=False)

    @staticmethod
    def missing() -> str | None:
        """Why a lab cannot run here (a binary or the CGIs are absent), or None."""
        for path in (NAGIOS_BIN, APACHE_BIN, f"{CGI_DIR}/statusjson.cgi", f"{APACHE_MODULES}/mod_cgi.so"):
            if not os.path.exists(path):
                return f"{path} is not installed (apt-get install nagios4 apache2)"
        return None

    @property
    def dir(self) -> Path:
        """The lab's directory (set once started)."""
        assert self.workdir is not None, "the lab is not started"
        return self.workdir

    @property
    def html_url(self) -> str:
        """A URL under the same basic auth whose "CGIs" answer an HTML sign-in page instead of JSON."""
        return f"http://127.0.0.1:{self.port}/html"

    @property
    def url(self) -> str:
        """The base URL of the CGIs (what a source's ``options.url`` is set to)."""
        return f"http://127.0.0.1:{self.port}/cgi-bin/nagios4"

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> NagiosLab:
        """Write the configuration, start Nagios then Apache, and wait until both answer."""
        self.write()
        self.start_nagios(timeout)
        self.start_apache(timeout)
        return self

    def write(self) -> None:
        """Create the lab's directory (a fresh temporary one unless ``workdir`` is set) and write Nagios's configuration."""
        reason = self.missing()
        if reason:
            raise LabError(reason)
        # Apache's CGI user (nobody when we are root) must reach the lab's files: a fresh
        # world-traversable directory under the temp dir, never a chmod of someone else's.
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="nagios-lab-"))
            self._own_dir = True
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.workdir.chmod(0o755)
        for sub in ("var", "spool", "states", "apache"):
            (self.dir / sub).mkdir(exist_ok=True)
        self._write_nagios_config()

    def stop(self) -> None:
        """Stop Apache and Nagios (whatever of them runs), and remove the directory the lab created."""
        self.stop_apache()
        self.stop_nagios()
        if self._own_dir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir, self._own_dir = None, False

    def __enter__(self) -> NagiosLab:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start_nagios(self, timeout: float = 30.0) -> None:
        """Start Nagios in the foreground (as a child) and wait for its command file and status file."""
        for stale in (self.command_file, self.status_file):
            stale.unlink(missing_ok=True)
        with (self.dir / "nagios.out").open("ab") as log:
            self._nagios = subprocess.Popen([NAGIOS_BIN, str(self.dir / "nagios.cfg")], stdout=log,
                                            stderr=subprocess.STDOUT, cwd=self.dir, start_new_session=True)
        self._wait(lambda: self.command_file.exists() and self.status_file.exists(), self._nagios, "nagios",
                   timeout)

    def reload(self, hosts: Sequence[LabHost], services: Sequence[LabService]) -> None:
        """Replace the object configuration and make Nagios reload it (SIGHUP; states are retained)."""
        self.hosts, self.services = hosts, services
        (self.dir / "objects.cfg").write_text(self._objects())
        assert self._nagios is not None, "nagios is not running"
        self._nagios.send_signal(signal.SIGHUP)

    def verify(self) -> subprocess.CompletedProcess[str]:
        """``nagios4 -v`` over the lab's configuration as written (by ``write`` or ``start``)."""
        return subprocess.run([NAGIOS_BIN, "-v", str(self.dir / "nagios.cfg")], capture_output=True, text=True,
                              timeout=60, check=False)

    def stop_nagios(self) -> None:
        """Stop the lab's Nagios (SIGTERM, then SIGKILL)."""
        self._nagios = _terminate(self._nagios)

    def start_apache(self, timeout: float = 30.0) -> None:
        """Start Apache in the foreground on 127.0.0.1 (a free port the first time, the same one after)."""
        if not self.port:
            self.port = _free_port()
        self._write_apache_config()
        with (self.dir / "apache" / "apache.out").open("ab") as log:
            self._apache = subprocess.Popen([APACHE_BIN, "-f", str(self.dir / "apache" / "httpd.conf"),
                                             "-DFOREGROUND"], stdout=log, stderr=subprocess.STDOUT,
                                            cwd=self.dir, start_new_session=True,
                                            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C"})
        self._wait(self._answers, self._apache, "apache2", timeout)

    def stop_apache(self) -> None:
        """Stop the lab's Apache (SIGTERM, then SIGKILL)."""
        self._apache = _terminate(self._apache)

    # -- driving checks --------------------------------------------------------------------------

    def set_host(self, host: str, code: int) -> None:
        """The exit code the next check of ``host`` returns (0 UP, 1 or 2 DOWN)."""
        (self.dir / "states" / host).write_text(str(code))

    def set_service(self, host: str, description: str, code: int) -> None:
        """The exit code the next check of a service returns (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)."""
        (self.dir / "states" / _state_file(host, description)).write_text(str(code))

    def command(self, line: str) -> None:
        """Write one external command (``NAME;arg;...``) to Nagios's command file."""
        with self.command_file.open("w") as pipe:
            pipe.write(f"[{int(time.time())}] {line}\n")

    def force_host_check(self, host: str) -> None:
        """SCHEDULE_FORCED_HOST_CHECK for now."""
        self.command(f"SCHEDULE_FORCED_HOST_CHECK;{host};{int(time.time())}")

    def force_service_check(self, host: str, description: str) -> None:
        """SCHEDULE_FORCED_SVC_CHECK for now."""
        self.command(f"SCHEDULE_FORCED_SVC_CHECK;{host};{description};{int(time.time())}")

    def status(self) -> str:
        """The current status.dat text (to wait for Nagios to have written a result)."""
        try:
            return self.status_file.read_text()
        except FileNotFoundError:
            return ""

    def current_state(self, host: str, description: str | None = None) -> int | None:
        """The host's or service's current_state in status.dat (plugin exit code), None before it is written."""
        block = self._status_block(host, description)
        return int(block["current_state"]) if block and block.get("current_state", "").isdigit() else None

    def all_checked(self) -> bool:
        """Whether status.dat shows every host and service checked at least once."""
        blocks = [self._status_block(h.name, None) for h in self.hosts] + [
            self._status_block(s.host, s.description) for s in self.services]
        return all(b is not None and b.get("has_been_checked") == "1" for b in blocks)

    def wait(self, condition: Callable[[], bool], timeout: float = 30.0) -> bool:
        """Poll ``condition`` every 0.2 s; whether it held within ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.2)
        return False

    def _status_block(self, host: str, description: str | None) -> dict[str, str] | None:
        kind = "hoststatus" if description is None else "servicestatus"
        for chunk in self.status().split("\n\t}")[:-1]:
            head, _, body = chunk.rpartition("{")
            if not head.strip().endswith(kind):
                continue
            fields = dict(line.strip().split("=", 1) for line in body.splitlines() if "=" in line)
            if fields.get("host_name") == host and fields.get("service_description") == description:
                return fields
        return None

    @property
    def command_file(self) -> Path:
        """Nagios's external command FIFO."""
        return self.dir / "var" / "nagios.cmd"

    @property
    def status_file(self) -> Path:
        """Nagios's status.dat."""
        return self.dir / "var" / "status.dat"

    # -- configuration -------------------------------------------------------------------------

    def _write_nagios_config(self) -> None:
        w = self.dir
        script = w / "check_lab.sh"
        script.write_text(CHECK_SCRIPT)
        script.chmod(0o755)
        user = pwd.getpwuid(os.getuid()).pw_name
        group = grp.getgrgid(os.getgid()).gr_name
        (w / "nagios.cfg").write_text(_lines(
            f"log_file={w}/var/nagios.log", f"cfg_file={w}/objects.cfg", f"resource_file={w}/resource.cfg",
            f"status_file={w}/var/status.dat", f"object_cache_file={w}/var/objects.cache",
            f"precached_object_file={w}/var/objects.precache", f"temp_file={w}/var/nagios.tmp",
            f"temp_path={w}/var", f"check_result_path={w}/spool", f"lock_file={w}/var/nagios.lock",
            f"command_file={w}/var/nagios.cmd", f"query_socket={w}/var/nagios.qh",
            f"state_retention_file={w}/var/retention.dat", "retain_state_information=1", "retention_update_interval=0",
            f"nagios_user={user}", f"nagios_group={group}", "check_external_commands=1",
            "command_check_interval=-1", "interval_length=1", "status_update_interval=1",
            "check_result_reaper_frequency=1", "max_check_result_reaper_time=2", "use_syslog=0",
            "log_rotation_method=n", "enable_notifications=0", "enable_event_handlers=1",
            "enable_flap_detection=0", "execute_service_checks=1", "execute_host_checks=1",
            "accept_passive_service_checks=1", "accept_passive_host_checks=1", "max_concurrent_checks=0",
            "service_check_timeout=10", "host_check_timeout=10", "event_handler_timeout=20",
            "use_retained_program_state=0", "check_for_orphaned_services=0", "check_for_orphaned_hosts=0",
            "enable_environment_macros=0", "check_for_updates=0", "bare_update_check=1",
            "illegal_macro_output_chars=`~$&|'\"<>", "date_format=iso8601",
            "auto_reschedule_checks=0", "use_aggressive_host_checking=0",
            "cached_host_check_horizon=0", "cached_service_check_horizon=0",
            "enable_predictive_host_dependency_checks=0", "enable_predictive_service_dependency_checks=0",
            "debug_level=0", f"cfg_file={w}/extra.cfg", *self.main_options,
        ))
        (w / "extra.cfg").write_text(self.extra_objects)
        (w / "resource.cfg").write_text(f"$USER1$=/usr/lib/nagios/plugins\n$USER2$={w}\n")
        (w / "objects.cfg").write_text(self._objects())
        (w / "cgi.cfg").write_text(_lines(
            f"main_config_file={w}/nagios.cfg", "physical_html_path=/usr/share/nagios4/htdocs",
            "url_html_path=/nagios4", "use_authentication=1", "use_ssl_authentication=0",
            *(f"{key}={self.username}" for key in (
                "authorized_for_system_information", "authorized_for_configuration_information",
                "authorized_for_all_services", "authorized_for_all_hosts",
                "authorized_for_all_service_commands", "authorized_for_all_host_commands")),
            "result_limit=0", "escape_html_tags=1", "lock_author_names=1",
        ))
        salted = base64.b64encode(hashlib.sha1(self.password.encode()).digest()).decode()  # noqa: S324 - Apache's {SHA} htpasswd format
        (w / "apache" / "htpasswd").write_text(f"{self.username}:{{SHA}}{salted}\n")

    def _objects(self) -> str:
        w = self.dir
        handlers = {kind: f"    event_handler lab-{kind}-handler\n    event_handler_enabled 1\n" if line else ""
                    for kind, line in (("host", self.host_event_handler), ("service", self.service_event_handler))}
        blocks = [
            "define command {\n    command_name check-lab\n    command_line $USER2$/check_lab.sh $ARG1$\n}\n",
            "define command {\n    command_name lab-notify\n    command_line /bin/true\n}\n",
            *(f"define timeperiod {{\n    timeperiod_name {period}\n    alias {period}\n"
              + "".join(f"    {d} 00:00-24:00\n" for d in
                        ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")) + "}\n"
              for period in ("always", "24x7")),
            "define contact {\n    contact_name lab\n    host_notifications_enabled 0\n"
            "    service_notifications_enabled 0\n    host_notification_period always\n"
            "    service_notification_period always\n    host_notification_options n\n"
            "    service_notification_options n\n    host_notification_commands lab-notify\n"
            "    service_notification_commands lab-notify\n}\n",
        ]
        for kind, line in (("host", self.host_event_handler), ("service", self.service_event_handler)):
            if line:
                blocks.append(f"define command {{\n    command_name lab-{kind}-handler\n    command_line {line}\n}}\n")
        for host in self.hosts:
            parents = f"    parents {','.join(host.parents)}\n" if host.parents else ""
            blocks.append(
                f"define host {{\n    host_name {host.name}\n    alias {host.name}\n    address {host.address}\n"
                f"{parents}    check_command check-lab!{w}/states/{host.name}\n    max_check_attempts 1\n"
                f"    check_interval {self.check_interval}\n    retry_interval 1\n    check_period always\n"
                f"    active_checks_enabled 1\n    notification_period always\n    notification_interval 0\n"
                f"    contacts {','.join(self.contacts)}\n{handlers['host']}}}\n")
        for svc in self.services:
            blocks.append(
                f"define service {{\n    host_name {svc.host}\n    service_description {svc.description}\n"
                f"    check_command check-lab!{w}/states/{_state_file(svc.host, svc.description)}\n"
                f"    max_check_attempts 1\n    check_interval {self.check_interval}\n    retry_interval 1\n"
                f"    check_period always\n    active_checks_enabled 1\n    notification_period always\n"
                f"    notification_interval 0\n    contacts {','.join(self.contacts)}\n{handlers['service']}}}\n")
        return "".join(blocks)

    def _write_apache_config(self) -> None:
        w = self.dir
        root = os.getuid() == 0
        user = "nobody" if root else pwd.getpwuid(os.getuid()).pw_name
        group = "nogroup" if root else grp.getgrgid(os.getgid()).gr_name
        (w / "apache" / "httpd.conf").write_text(_lines(
            f"ServerRoot {w}/apache", "ServerName 127.0.0.1", f"Listen 127.0.0.1:{self.port}",
            f"PidFile {w}/apache/httpd.pid", f"ErrorLog {w}/apache/error.log", "LogLevel warn",
            f"DefaultRuntimeDir {w}/apache", f"Mutex file:{w}/apache default",
            *(f"LoadModule {m}_module {APACHE_MODULES}/mod_{m}.so" for m in MODULES),
            f"User {user}", f"Group {group}",
            "StartServers 2", "MinSpareServers 1", "MaxSpareServers 4", "Timeout 30", "KeepAlive On",
            f"ScriptAlias /cgi-bin/nagios4 {CGI_DIR}",
            f"<Directory {CGI_DIR}>",
            "    Options +ExecCGI", "    AuthType Basic", '    AuthName "Nagios lab"',
            f"    AuthUserFile {w}/apache/htpasswd", "    Require valid-user",
            f"    SetEnv NAGIOS_CGI_CONFIG {w}/cgi.cfg",
            "</Directory>",
            f"Alias /html {w}/apache/html",
            f"<Directory {w}/apache/html>",
            "    ForceType text/html", "    AuthType Basic", '    AuthName "Nagios lab"',
            f"    AuthUserFile {w}/apache/htpasswd", "    Require valid-user",
            "</Directory>",
        ))
        html = w / "apache" / "html"
        html.mkdir(exist_ok=True)
        page = "<html><head><title>Sign in</title></head><body><form>Sign in to continue</form></body></html>\n"
        for name in ("statusjson.cgi", "objectjson.cgi"):
            (html / name).write_text(page)

    # -- helpers -------------------------------------------------------------------------------

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def _wait(self, ready: object, proc: subprocess.Popen[bytes] | None, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if callable(ready) and ready():
                return
            if proc is not None and proc.poll() is not None:
                raise LabError(f"{what} exited with status {proc.returncode} at start (see {self.workdir})")
            time.sleep(0.1)
        raise LabError(f"{what} did not become ready within {timeout:.0f} s (see {self.workdir})")


def _state_file(host: str, description: str) -> str:
    """The file holding a service's next exit code (a description may hold ``/`` or spaces)."""
    return f"{host}__" + "".join(c if c.isalnum() or c in "-_." else "_" for c in description)


def _lines(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _terminate(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return None
    try:
        os.killpg(proc.pid, 15)
    except ProcessLookupError:
        return None
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.wait(10)
    return None
