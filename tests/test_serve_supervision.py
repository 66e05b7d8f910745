"""`flask serve` keeps the desk up when Redis dies mid-day (issue 9, item 8).

The supervisor is tried with small real child processes (python -c), then
the real `flask serve` against a real redis-server this file starts, stops and
starts again on its own port.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from flask_migrate import upgrade

from app import create_app
from app.extensions import db
from app.services import supervisor
from app.services.supervisor import Child
from app.services.supervisor import RedisPing
from app.services.supervisor import Supervisor
from tests.conftest import TEST_REDIS_URL
from tests.conftest import config_for

ROOT = Path(__file__).resolve().parent.parent
SLEEP = [sys.executable, "-c", "import time; time.sleep(120)"]
DEAD_REDIS = "redis://127.0.0.1:1/0"
# Sleeps until SIGTERM, then says so on its way out.
TALKATIVE = [sys.executable, "-c", "import signal, sys, time\n"
             "signal.signal(signal.SIGTERM, lambda *a: (print('last words', flush=True), sys.exit(0)))\n"
             "print('ready', flush=True)\ntime.sleep(120)"]


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(what, predicate, timeout=90, every=0.2):
    """Poll `predicate` until it returns something true; fail with `what` if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(every)
    pytest.fail(f"gave up waiting for {what}")


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class RedisServer:
    """A real redis-server on its own port that a test may stop and start again."""

    def __init__(self, port):
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process = None

    def start(self):
        """Start redis-server and wait until it answers."""
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with RedisPing(self.url, timeout=0.5) as ping:
            _wait_for("redis-server to answer", ping, timeout=30)

    def stop(self):
        """Stop redis-server (as if it died) and wait until it is gone."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=30)
            self.process = None


@pytest.fixture
def redis_server():
    """A redis-server of this test's own, stopped at the end whatever happened."""
    server = RedisServer(_free_port())
    server.start()
    yield server
    server.stop()


class _Said(list):
    """Lines a supervisor said; `say` is what it is given to say them."""

    def say(self, text, level="info"):
        """Keep one line."""
        self.append(text)


@pytest.fixture
def lines():
    """A list that collects what a supervisor says."""
    return _Said()


def _step_until(sup, what, predicate, timeout=60):
    def stepped():
        sup.step()
        return predicate()
    return _wait_for(what, stepped, timeout=timeout, every=0.05)


def test_a_crashing_background_child_is_restarted_with_growing_back_off(tmp_path, lines):
    """A worker that keeps dying is started again after 0.1, 0.2, 0.4, 0.4 s; the web stays up."""
    web = Child("web", SLEEP, essential=True)
    flaky = Child("flaky", [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"],
                  needs_redis=True)
    status_file = tmp_path / "serve.json"
    with RedisPing(TEST_REDIS_URL) as ping:
        sup = Supervisor([web, flaky], redis_available=ping, status_file=status_file,
                         say=lines.say, base_delay=0.1, max_delay=0.4, stop_timeout=10)
        backoffs = []

        def observe():
            if flaky.state == supervisor.BACKING_OFF and (
                    not backoffs or backoffs[-1][0] != flaky.restarts):
                backoffs.append((flaky.restarts, flaky.backoff))
            return len(backoffs) >= 5

        try:
            sup.start()
            _step_until(sup, "five exits of the flaky child", observe)
            assert web.state == supervisor.RUNNING and web.process.poll() is None
            written = json.loads(status_file.read_text())
        finally:
            sup.stop_all()
    assert [delay for _, delay in backoffs] == [0.1, 0.2, 0.4, 0.4, 0.4]
    assert [restarts for restarts, _ in backoffs] == [0, 1, 2, 3, 4]
    flaky_status = written["children"]["flaky"]
    assert flaky_status["last_exit"]["code"] == 3
    assert flaky_status["restarts"] >= 4
    assert written["children"]["web"]["state"] == "running"
    assert "flaky | boom" in lines
    assert any("flaky stopped (exit code 3); starting it again in 0.4 s." in line for line in lines)


def test_when_the_web_dies_everything_stops(tmp_path, lines):
    """gunicorn is the desk: when it exits, serve stops the worker too and exits with 1."""
    web = Child("web", [sys.executable, "-c", "import time; time.sleep(1)"], essential=True)
    worker = Child("worker", SLEEP)
    sup = Supervisor([web, worker], redis_available=lambda: True, say=lines.say,
                     status_file=tmp_path / "serve.json", tick=0.05, stop_timeout=10)
    assert sup.run() == 1
    written = json.loads((tmp_path / "serve.json").read_text())
    assert {info["state"] for info in written["children"].values()} == {"stopped"}
    assert worker.last_exit["code"] == -signal.SIGTERM
    assert "web stopped (exit code 0); stopping the rest." in lines


def test_background_children_wait_for_redis_and_come_back_with_it(tmp_path, lines, redis_server):
    """Redis dies: worker and cron are stopped and wait; Redis returns: they run again."""
    web = Child("web", SLEEP, essential=True)
    worker = Child("worker", TALKATIVE, needs_redis=True)
    cron = Child("cron", SLEEP, needs_redis=True)
    with RedisPing(redis_server.url, timeout=0.5) as ping:
        sup = Supervisor([web, worker, cron], redis_available=ping, say=lines.say,
                         status_file=tmp_path / "serve.json", redis_grace=0.5,
                         redis_check_every=0.1, stop_timeout=10)
        try:
            sup.start()
            assert [c.state for c in (web, worker, cron)] == ["running"] * 3
            first_pids = [worker.process.pid, cron.process.pid]
            first_relay = worker.relay

            redis_server.stop()
            _step_until(sup, "worker and cron to wait for Redis", lambda: all(
                c.state == supervisor.WAITING_FOR_REDIS for c in (worker, cron)))
            assert web.state == supervisor.RUNNING and web.process.poll() is None
            assert not any(_alive(pid) for pid in first_pids)
            first_relay.join(timeout=30)
            stopped_for_redis = list(lines)
            waiting = json.loads((tmp_path / "serve.json").read_text())["children"]

            redis_server.start()
            _step_until(sup, "worker and cron to run again", lambda: all(
                c.state == supervisor.RUNNING for c in (worker, cron)))
            back = json.loads((tmp_path / "serve.json").read_text())["children"]
            _step_until(sup, "the worker to be ready again",
                        lambda: lines.count("worker | ready") == 2)
        finally:
            sup.stop_all()
    assert waiting["worker"]["state"] == waiting["cron"]["state"] == "waiting-for-redis"
    assert waiting["web"]["state"] == "running"
    assert back["worker"]["restarts"] == back["cron"]["restarts"] == 1
    assert back["worker"]["state"] == back["cron"]["state"] == "running"
    assert any(line.startswith("Redis is not reachable") for line in lines)
    assert "Stopping worker, cron until Redis is back." in lines
    assert "Redis answers again." in lines
    # Stopped for Redis, the worker's own goodbye is not shown; stopped with serve, it is.
    assert "worker | ready" in stopped_for_redis
    assert "worker | last words" not in stopped_for_redis
    assert "worker | last words" in lines


def test_redis_down_from_the_start_starts_the_web_alone(tmp_path, lines):
    """With Redis unreachable at start, the web runs and worker and cron wait for it."""
    web = Child("web", SLEEP, essential=True)
    worker = Child("worker", SLEEP, needs_redis=True)
    with RedisPing(DEAD_REDIS, timeout=0.5) as ping:
        sup = Supervisor([web, worker], redis_available=ping, say=lines.say,
                         status_file=tmp_path / "serve.json", stop_timeout=10)
        try:
            sup.start()
            assert web.state == supervisor.RUNNING and web.process is not None
            assert worker.state == supervisor.WAITING_FOR_REDIS and worker.process is None
        finally:
            sup.stop_all()


def test_healthz_shows_what_the_supervisor_sees(app, client, tmp_path, monkeypatch, lines):
    """/healthz lists serve's children from the status file; not under serve, it says so."""
    assert client.get("/healthz").get_json()["processes"] == {"supervised": False}
    web = Child("web", SLEEP, essential=True)
    worker = Child("worker", SLEEP, needs_redis=True)
    with RedisPing(DEAD_REDIS, timeout=0.5) as ping:
        sup = Supervisor([web, worker], redis_available=ping, say=lines.say,
                         status_file=tmp_path / "serve.json", stop_timeout=10)
        try:
            sup.start()
            monkeypatch.setenv(supervisor.STATUS_ENV, str(tmp_path / "serve.json"))
            body = client.get("/healthz").get_json()
        finally:
            sup.stop_all()
    processes = body["processes"]
    assert processes["supervised"] and not processes["stale"]
    assert processes["children"]["web"]["state"] == "running"
    assert processes["children"]["worker"]["state"] == "waiting-for-redis"


def _healthz(port):
    """(status code, JSON) of /healthz, or None while nothing answers on `port`."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def _stop(serve):
    """SIGTERM `flask serve` as systemd or Ctrl-C would; its return code.

    Whatever is left of its process group afterwards (a serve that did not
    stop its children) is killed, so a failing run leaves nothing behind.
    """
    serve.send_signal(signal.SIGTERM)
    try:
        return serve.wait(timeout=60)
    except subprocess.TimeoutExpired:
        serve.kill()
        return serve.wait()
    finally:
        try:
            os.killpg(serve.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _states(body):
    children = body["processes"]["children"]
    return {name: children[name]["state"] for name in ("web", "worker", "cron")}


@pytest.mark.slow
def test_flask_serve_keeps_the_desk_up_when_redis_dies_and_returns(tmp_path, redis_server):
    """Redis dies mid-day: the desk still answers, /healthz shows the worker and cron
    waiting; Redis returns: they run again. SIGTERM then stops everything.

    Run once, on a SQLite database of its own: what is tested is the processes
    around the app, which behave the same on every database (the database check of
    /healthz is tested on all three in test_health_and_jobs).
    """
    database_url = f"sqlite:///{tmp_path / 'serve.sqlite'}"
    app = create_app(config_for(database_url))
    with app.app_context():
        upgrade()
        db.engine.dispose()
    port = _free_port()
    env = {**os.environ, "FLASK_APP": "wsgi.py", "LOCKER_ENV": "testing",
           "DATABASE_URL": database_url, "REDIS_URL": redis_server.url,
           "LOCKER_INSTANCE_DIR": str(tmp_path / "instance"),
           "UPLOAD_DIR": str(tmp_path / "uploads"), "SECRET_KEY": "serve-test-secret"}
    status_file = tmp_path / "instance" / f"serve-{port}.json"
    with open(tmp_path / "serve.log", "wb") as log:
        serve = subprocess.Popen(
            [sys.executable, "-m", "flask", "serve", "--port", str(port), "--web-workers", "1"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        status, body = _wait_for("the web to answer", lambda: _healthz(port))
        assert "processes" in body, body
        _wait_for("a live worker", lambda: (_healthz(port) or (0,))[0] == 200)
        pids = {name: info["pid"] for name, info in
                json.loads(status_file.read_text())["children"].items()}

        redis_server.stop()
        status, body = _wait_for("worker and cron to wait for Redis", lambda: (
            (answer := _healthz(port)) is not None
            and answer[1]["processes"]["children"]["cron"]["state"] == "waiting-for-redis"
            and answer[1]["processes"]["children"]["worker"]["state"] == "waiting-for-redis"
            and answer))
        assert _states(body) == {"web": "running", "worker": "waiting-for-redis",
                                 "cron": "waiting-for-redis"}
        assert status == 503 and not body["redis"]["ok"] and body["database"]["ok"]
        assert not body["processes"]["stale"]
        assert serve.poll() is None

        redis_server.start()
        status, body = _wait_for("worker and cron to run again", lambda: (
            (answer := _healthz(port)) is not None and answer[0] == 200
            and set(_states(answer[1]).values()) == {"running"} and answer))
        children = body["processes"]["children"]
        assert children["worker"]["restarts"] >= 1 and children["cron"]["restarts"] >= 1
        assert children["web"]["restarts"] == 0 and children["web"]["pid"] == pids["web"]
        last_pids = {name: info["pid"] for name, info in children.items()}
    finally:
        code = _stop(serve)
    assert code == 0, (tmp_path / "serve.log").read_text()[-3000:]
    assert not any(_alive(pid) for pid in last_pids.values())
    final = json.loads(status_file.read_text())["children"]
    assert {info["state"] for info in final.values()} == {"stopped"}
    output = (tmp_path / "serve.log").read_text()
    assert "Redis is not reachable at redis://127.0.0.1:" in output
    assert "Redis answers again." in output
    assert "web    | " in output and "cron   | " in output

