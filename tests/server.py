"""A real AgentLens server for end-to-end tests, and the SDK scripts that talk to it.

``start_server(directory, api_key=None, environment=None, workers=2)`` runs
``gunicorn -w <workers> wsgi:app`` from the repository root, so with the production
settings of ``gunicorn.conf.py``,
on a free 127.0.0.1 port, with its database in ``directory``, rate limits off,
(optionally) ``AGENTLENS_API_KEY`` set and more ``environment`` variables, and
waits for ``/health``. ``LiveServer.stop()`` ends it by its PID.

``server_fixture(name, api_key=None)`` makes a (function-scoped) pytest fixture of
that: every test gets its own server and database, so what the test reads back
(sessions, analytics) is what its SDK run sent, and nothing else.

``run_sdk_script(name, *args, server_url=...)`` runs ``tests/sdk_scripts/<name>`` in
a subprocess with this interpreter, with proxies pointing at a closed local
port and a socket guard (``tests/sdk_scripts/netguard.py``) that allows only the
server's address; it returns the JSON the script printed on its ``RESULT`` line.

``ingest_native_session(server, session_id)`` stores a small session through the
native ``POST /events``, the baseline the SDK sessions are compared with.

Tests import this module as ``server`` (pytest puts ``tests/`` on ``sys.path``).
"""
import functools
import json
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = Path(__file__).resolve().parent / "sdk_scripts"
# A port nothing listens on: a proxied request dies at once, and the guard names it.
DEAD_PROXY = "http://127.0.0.1:9"
SECRET_KEY = "sdk-e2e-secret-key-0123456789abcdef0123456789abcdef"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


@functools.cache
def gunicorn_options():
    """Options for this gunicorn beyond the fixed ones. Since gunicorn 25 every server
    opens a control socket at one shared path under $HOME: servers running at once
    (this suite's, other tests', a developer's) would fight over it, so turn it off."""
    with warnings.catch_warnings():  # the suite turns warnings into errors
        warnings.simplefilter("ignore")
        import gunicorn.config

    known = {flag for setting in gunicorn.config.KNOWN_SETTINGS for flag in setting.cli or ()}
    return ["--no-control-socket"] if "--no-control-socket" in known else []


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_environment(extra=None):
    """This process's environment without AgentLens or proxy settings, plus ``extra``."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("AGENTLENS_")
           and key.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
    env.update(extra or {})
    return env


class LiveServer:
    def __init__(self, process, url, api_key, database, log_path):
        self.process = process
        self.pid = process.pid
        self.url = url
        self.api_key = api_key
        self.database = database
        self.log_path = log_path
        self.http = requests.Session()
        self.http.trust_env = False  # never a proxy between the tests and 127.0.0.1

    def headers(self, api_key=None):
        key = api_key if api_key is not None else self.api_key
        return {"X-API-Key": key} if key else {}

    def get(self, path, api_key=None, **kwargs):
        return self.http.get(self.url + path, headers=self.headers(api_key), timeout=10, **kwargs)

    def post(self, path, body, api_key=None, **kwargs):
        return self.http.post(self.url + path, json=body, headers=self.headers(api_key),
                              timeout=10, **kwargs)

    def get_json(self, path, **kwargs):
        response = self.get(path, **kwargs)
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response.json()

    def post_json(self, path, body, **kwargs):
        response = self.post(path, body, **kwargs)
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response.json()

    def log(self):
        try:
            return Path(self.log_path).read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, graceful=False):
        """SIGINT to the gunicorn master by PID (its quick shutdown: SIGTERM's graceful
        one costs ~2 s per server, as gthread workers poll once a second; with
        ``graceful``, SIGTERM: a request being answered is finished, not cut off with
        a traceback in the log); SIGKILL if it has not gone in time. The master stops
        its workers before it exits."""
        self.http.close()
        if self.process.poll() is not None:
            return
        try:
            os.kill(self.pid, signal.SIGTERM if graceful else signal.SIGINT)
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.kill(self.pid, signal.SIGKILL)
            self.process.wait(STOP_TIMEOUT)
        except ProcessLookupError:
            pass


def start_server(directory, api_key=None, attempts=3, config=None, environment=None, workers=2):
    """Start gunicorn on a free port; return a LiveServer once /health answers.
    ``config`` is a gunicorn config file (``-c``); ``environment`` adds variables.

    The port is free when chosen but could be taken before gunicorn binds it (other
    tests start servers too): then gunicorn gives up, and another port is tried.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for attempt in range(attempts):
        try:
            return _start_server(directory, api_key, config, environment or {}, workers)
        except PortTaken:
            if attempt == attempts - 1:
                raise


class PortTaken(RuntimeError):
    pass


def _start_server(directory, api_key, config, environment, workers):
    database = directory / "agentlens.sqlite3"
    log_path = directory / "gunicorn.log"
    port = free_port()
    extra = {
        "AGENTLENS_DATABASE": str(database),
        "AGENTLENS_RATE_LIMITS": "off",
        # Both workers must sign and check the same JWTs; a fixed key also keeps
        # the server from writing instance/secret_key into the work tree.
        "AGENTLENS_SECRET_KEY": SECRET_KEY,
        **environment,
    }
    if api_key is not None:
        extra["AGENTLENS_API_KEY"] = api_key
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", str(workers), "--graceful-timeout", "5",
             *gunicorn_options(), "-b", f"127.0.0.1:{port}",
             *(["-c", str(config)] if config else []),
             "wsgi:app"],
            cwd=REPO, env=clean_environment(extra), stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    first_key = api_key.split(",")[0].strip() if api_key else None
    server = LiveServer(process, f"http://127.0.0.1:{port}", first_key, database, log_path)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                log_text = server.log()
                error = PortTaken if "in use" in log_text else RuntimeError
                raise error(f"gunicorn exited with {process.returncode}:\n{log_text}")
            if answers_health(server):
                return server
            time.sleep(0.05)
        raise RuntimeError(f"gunicorn did not answer /health in {START_TIMEOUT} s:\n{server.log()}")
    except BaseException:
        server.stop()
        raise


def answers_health(server):
    """True once AgentLens itself answers (not whatever else may hold the port)."""
    try:
        response = server.http.get(server.url + "/health", timeout=1)
        return response.status_code == 200 and response.json().get("status") == "ok"
    except (requests.RequestException, ValueError):
        return False


def server_fixture(name, api_key=None, scope="function"):
    """A pytest fixture called ``name`` that yields a started LiveServer (stopped after).

    Function scope (the default) gives every test its own server and database, so
    what a test reads back (sessions, analytics) is what its SDK run sent, nothing else.
    """

    @pytest.fixture(name=name, scope=scope)
    def fixture(tmp_path_factory):
        server = start_server(tmp_path_factory.mktemp(name), api_key=api_key)
        try:
            yield server
        finally:
            server.stop()

    return fixture


def sdk_environment(server_url, also_allow=()):
    """The environment of an SDK script: proxies to a dead local port, a guard for the rest
    (the server, and the local ``also_allow`` URLs), and none of a developer's AGENTOPS_*
    or OTEL_* settings or warning filters."""
    host_port = ",".join(url.split("://", 1)[1].split("/")[0] for url in (server_url, *also_allow))
    env = clean_environment()
    for key in list(env):
        if key.startswith(("AGENTOPS_", "OTEL_")) or key == "PYTHONWARNINGS":
            del env[key]
    env.update({
        "HTTP_PROXY": DEAD_PROXY, "HTTPS_PROXY": DEAD_PROXY, "ALL_PROXY": DEAD_PROXY,
        "http_proxy": DEAD_PROXY, "https_proxy": DEAD_PROXY, "all_proxy": DEAD_PROXY,
        "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
        "SDK_GUARD_ALLOW": host_port,
        "AGENTOPS_ENV_DATA_OPT_OUT": "true",  # a small host_env (no package list)
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
    })
    return env


def start_sdk_script(name, *args, server_url, python=sys.executable, also_allow=(), env=None):
    """Start ``tests/sdk_scripts/<name>`` with ``python`` (see :func:`finish_sdk_script`);
    ``env`` adds variables to its environment."""
    return subprocess.Popen(
        [python, str(SCRIPTS / name), server_url, *map(str, args)],
        cwd=SCRIPTS, env={**sdk_environment(server_url, also_allow), **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def finish_sdk_script(process, timeout=60, allow_network=False):
    """Wait for a script; return its RESULT JSON. Fails on a non-zero exit, and on any
    connection the guard refused unless ``allow_network`` (a test of the guard itself)."""
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        raise AssertionError(f"SDK script timed out\nstdout:\n{stdout}\nstderr:\n{stderr}")
    assert process.returncode == 0, (
        f"SDK script exited with {process.returncode}\nstdout:\n{stdout}\nstderr:\n{stderr}")
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"no RESULT line\nstdout:\n{stdout}\nstderr:\n{stderr}"
    result = json.loads(lines[-1][len("RESULT "):])
    assert allow_network or result["network_attempts"] == [], (
        "the SDK tried to reach something other than the AgentLens server: "
        f"{result['network_attempts']}\nstderr:\n{stderr}")
    result["stderr"] = stderr
    return result


def run_sdk_script(name, *args, server_url, timeout=60, **options):
    return finish_sdk_script(start_sdk_script(name, *args, server_url=server_url, **options),
                             timeout)


def ingest_native_session(server, session_id):
    """A completed native session: one llm_call (gpt-4o-mini, 20 in / 10 out) and two
    successful tool calls (get_weather, calculator), no errors."""
    events = [
        {"event_type": "session_start", "session_id": session_id, "agent_name": "native-agent",
         "metadata": {"source": "native"}},
        {"event_type": "llm_call", "session_id": session_id, "event_id": f"{session_id}-llm",
         "model": "gpt-4o-mini", "tokens_in": 20, "tokens_out": 10, "duration_ms": 100.0,
         "input_data": {"prompt": "hi"}, "output_data": {"response": "hello"}},
        {"event_type": "tool_call", "session_id": session_id, "event_id": f"{session_id}-weather",
         "tool_call": {"name": "get_weather", "input": {"city": "Rome"}, "output": {"temp": 25}},
         "duration_ms": 20.0},
        {"event_type": "tool_call", "session_id": session_id, "event_id": f"{session_id}-calc",
         "tool_call": {"name": "calculator", "input": {"a": 2, "b": 2}, "output": "4"},
         "duration_ms": 5.0},
        {"event_type": "session_end", "session_id": session_id, "status": "completed"},
    ]
    assert server.post_json("/events", {"events": events}) == {"status": "ok", "processed": 5}
