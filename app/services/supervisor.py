"""`flask serve` as one service: the web, the RQ worker and rq cron (issue 9, item 8).

The web (gunicorn) is the desk: it works without Redis, so it is the one
essential child; if it dies, everything stops. The worker and cron need Redis:
they run only while Redis answers a PING, are stopped once it has not answered
for ten seconds (a worker left alone retries every two seconds forever and
fills the desk PC's window; rq cron crashes about a minute later) and are
started again when it answers. A child that exits on its own is started again after an exponential
back-off (1 s, 2 s, 4 s … at most 60 s), reset once it has run for a minute.

The supervisor's view of its children is written to a small JSON file whose
path its children find in LOCKER_SERVE_STATUS, so every gunicorn worker can
show it on /healthz. A file rather than Redis, because Redis is what is down.

The children's output goes through the supervisor, each line behind the
child's name ("worker | …"), so the desk PC's window says who speaks. What a
worker or cron says while it is being stopped because Redis went away (the
same connection error, as a traceback) is left out: the supervisor has said
it once in plain words.
"""

import json
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from pathlib import Path

from redis import Redis

STATUS_ENV = "LOCKER_SERVE_STATUS"

RUNNING = "running"
WAITING_FOR_REDIS = "waiting-for-redis"
BACKING_OFF = "backing-off"
STOPPING = "stopping"
STOPPED = "stopped"


def _utcnow_text():
    return datetime.now(UTC).isoformat(timespec="seconds")


def describe_exit(code):
    """'exit code 1' or 'killed by SIGKILL', for the operator."""
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


@dataclass
class Child:
    """One supervised command and what the supervisor knows about it."""

    name: str
    command: list
    essential: bool = False
    needs_redis: bool = False
    state: str = STOPPED
    restarts: int = 0
    last_exit: dict | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)
    failures: int = 0  # exits in a row without a stable run; sets the back-off
    backoff: float = 0.0
    next_start: float = 0.0  # time.monotonic() before which it is not started again
    started_at: float = 0.0
    stop_deadline: float = 0.0
    starts: int = 0
    quiet: threading.Event = field(default_factory=threading.Event, repr=False)
    relay: threading.Thread | None = field(default=None, repr=False)

    def status(self, now):
        """This child as the status file shows it."""
        return {
            "state": self.state,
            "pid": self.process.pid if self.process else None,
            "restarts": self.restarts,
            "last_exit": self.last_exit,
            "essential": self.essential,
            "needs_redis": self.needs_redis,
            "backoff_seconds": self.backoff if self.state == BACKING_OFF else None,
            "retry_in_seconds": (round(max(0.0, self.next_start - now), 1)
                                 if self.state == BACKING_OFF else None),
        }


class RedisPing:
    """A callable that says whether Redis answers a PING within a couple of seconds."""

    def __init__(self, url, timeout=2.0):
        self._client = Redis.from_url(url, socket_connect_timeout=timeout,
                                      socket_timeout=timeout)

    def __call__(self):
        try:
            return bool(self._client.ping())
        except Exception:  # any failure means "not now"; the supervisor asks again
            return False

    def close(self):
        """Close the connection pool."""
        self._client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Supervisor:
    """Owns the child processes of `flask serve`; see the module docstring."""

    def __init__(self, children, *, redis_available, status_file=None, say=None, cwd=None,
                 env=None, redis_label="Redis", base_delay=1.0, max_delay=60.0,
                 stable_after=60.0, redis_grace=10.0, redis_check_every=2.0,
                 stop_timeout=15.0, heartbeat=5.0, tick=0.5):
        self.children = list(children)
        self.redis_available = redis_available
        self.status_file = Path(status_file) if status_file else None
        self.say = say or (lambda text, level="info": print(text, flush=True))
        self._say_lock = threading.Lock()  # the relay threads and the loop share the window
        self.cwd = cwd
        self.env = dict(os.environ if env is None else env)
        if self.status_file:
            self.env[STATUS_ENV] = str(self.status_file)
        self.redis_label = redis_label
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.stable_after = stable_after
        self.redis_grace = redis_grace
        self.redis_check_every = redis_check_every
        self.stop_timeout = stop_timeout
        self.heartbeat = heartbeat
        self.tick = tick
        self.redis_up = None
        self._redis_down_since = None
        self._next_redis_check = 0.0
        self._stop_signal = None
        self._last_written = None
        self._next_write = 0.0

    # --- the loop -------------------------------------------------------------------

    def run(self):
        """Start the children and watch them until a signal or the web stops; 0 or 1.

        SIGINT (Ctrl-C), SIGTERM and SIGHUP stop every child cleanly. The
        children run in their own process groups so that a Ctrl-C at the
        terminal reaches only the supervisor, which stops them in order.
        """
        previous = {sig: signal.signal(sig, self._request_stop)
                    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        try:
            self.start()
            while self._stop_signal is None:
                if not self.step():
                    return 1
                time.sleep(self.tick)
            self._say("Stopping …")
            return 0
        finally:
            self.stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _request_stop(self, signum, frame):
        self._stop_signal = signum

    def start(self):
        """Start every child that may start now (worker and cron only if Redis answers)."""
        self.step()

    def step(self):
        """One look at the children: reap, stop or start as needed. False once the web died."""
        now = time.monotonic()
        self._check_redis(now)
        alive = self._reap(now)
        self._stop_for_redis(now)
        self._start_due(now)
        self.write_status()
        return alive

    def _check_redis(self, now):
        if not any(c.needs_redis for c in self.children) or now < self._next_redis_check:
            return
        self._next_redis_check = now + self.redis_check_every
        up = self.redis_available()
        if up and self.redis_up is False:
            self._say("Redis answers again.")
        elif not up and self.redis_up is not False:
            self._say(f"Redis is not reachable at {self.redis_label}. Background jobs (reminders,"
                      " backups, notifications) wait for it; the desk itself keeps working.",
                      "warning")
        if up:
            self._redis_down_since = None
        elif self._redis_down_since is None:
            self._redis_down_since = now
        self.redis_up = up

    def _reap(self, now):
        for child in self.children:
            if child.process is None:
                continue
            code = child.process.poll()
            if code is None:
                if child.state == STOPPING and now >= child.stop_deadline:
                    child.process.kill()
                continue
            child.process = None
            child.last_exit = {"code": code, "at_utc": _utcnow_text()}
            if child.state == STOPPING:
                child.state = WAITING_FOR_REDIS
                continue
            if child.essential:
                child.state = STOPPED
                self._say(f"{child.name} stopped ({describe_exit(code)}); stopping the rest.",
                          "error")
                return False
            if now - child.started_at >= self.stable_after:
                child.failures = 0
            self._back_off(child, now, describe_exit(code))
        return True

    def _back_off(self, child, now, why):
        """Plan the next start of a child that stopped: 1 s, 2 s, 4 s … at most max_delay."""
        child.failures += 1
        child.backoff = min(self.max_delay, self.base_delay * 2 ** (child.failures - 1))
        child.next_start = now + child.backoff
        child.state = BACKING_OFF
        self._say(f"{child.name} stopped ({why}); starting it again in {child.backoff:g} s.",
                  "warning")

    def _stop_for_redis(self, now):
        if self._redis_down_since is None or now - self._redis_down_since < self.redis_grace:
            return
        running = [c for c in self.children
                   if c.needs_redis and c.process is not None and c.state == RUNNING]
        if running:
            self._say(f"Stopping {', '.join(c.name for c in running)} until Redis is back.",
                      "warning")
        for child in running:
            child.quiet.set()
            child.process.terminate()
            child.state = STOPPING
            child.stop_deadline = now + self.stop_timeout

    def _start_due(self, now):
        for child in self.children:
            if child.process is not None:
                continue
            if child.needs_redis and not self.redis_up:
                child.state = WAITING_FOR_REDIS
            elif now < child.next_start:
                child.state = BACKING_OFF
            else:
                self._launch(child, now)

    def _launch(self, child, now):
        try:
            child.process = subprocess.Popen(
                child.command, cwd=self.cwd, env=self.env, process_group=0,
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        except OSError as exc:
            if child.essential:
                raise
            # A missing program is a failure like any other: say so and try again later.
            child.last_exit = {"code": None, "error": str(exc), "at_utc": _utcnow_text()}
            self._back_off(child, now, str(exc))
            return
        child.quiet = threading.Event()
        child.relay = threading.Thread(target=self._relay, daemon=True, name=child.name,
                                       args=(child.name, child.process.stdout, child.quiet))
        child.relay.start()
        if child.starts:
            child.restarts += 1
            self._say(f"{child.name} started again (restart {child.restarts}).")
        child.starts += 1
        child.started_at = now
        child.state = RUNNING

    def _say(self, text, level="info"):
        with self._say_lock:
            self.say(text, level)

    def _relay(self, name, stream, quiet):
        """Pass a child's output on, line by line, behind its name (a thread per child)."""
        width = max(len(c.name) for c in self.children)
        with stream:
            for line in stream:
                if not quiet.is_set():
                    text = line.decode("utf-8", "replace").rstrip("\r\n")
                    self._say(f"{name:<{width}} | {text}", "output")

    def stop_all(self):
        """SIGTERM every child, wait up to stop_timeout, then SIGKILL what is left."""
        running = [c for c in self.children if c.process is not None]
        for child in running:
            if child.process.poll() is None:
                child.process.terminate()
        deadline = time.monotonic() + self.stop_timeout
        for child in running:
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
            child.last_exit = {"code": child.process.returncode, "at_utc": _utcnow_text()}
            child.process = None
        for child in self.children:
            child.state = STOPPED
            if child.relay is not None:
                # A grandchild that outlived its parent may still hold the pipe open.
                child.relay.join(timeout=2)
        self.write_status(force=True)

    # --- what the web reads -----------------------------------------------------------

    def status(self):
        """The supervisor's view of its children (what the status file holds)."""
        now = time.monotonic()
        return {
            "supervisor_pid": os.getpid(),
            "redis_up": self.redis_up,
            "heartbeat_seconds": self.heartbeat,
            "children": {c.name: c.status(now) for c in self.children},
        }

    def write_status(self, force=False):
        """Write the status file when something changed, and every `heartbeat` seconds."""
        if self.status_file is None:
            return
        status = self.status()
        comparable = {**status, "children": {
            name: {**info, "retry_in_seconds": None} for name, info in status["children"].items()}}
        now = time.monotonic()
        if not force and comparable == self._last_written and now < self._next_write:
            return
        self._last_written = comparable
        self._next_write = now + self.heartbeat
        status["updated_utc"] = _utcnow_text()
        # Written aside and renamed, so a web worker never reads half a file. A file
        # that cannot be written only makes /healthz say the status is stale.
        partial = self.status_file.with_name(f"{self.status_file.name}.{os.getpid()}.part")
        try:
            self.status_file.parent.mkdir(parents=True, exist_ok=True)
            partial.write_text(json.dumps(status, indent=1))
            os.replace(partial, self.status_file)
        except OSError:
            pass


def read_status(path):
    """The status file at `path` as a dict, or None if it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
