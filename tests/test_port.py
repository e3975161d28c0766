"""``flask --app agentlens run`` and ``agentlens run`` listen on $PORT (3000 by default);
--port still wins. Each test starts the real command from the repository root, as the
README does. (gunicorn binds 0.0.0.0:$PORT by itself when no bind is given.)"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

import server

BIN = Path(sys.executable).parent
COMMANDS = {
    "flask": [sys.executable, "-m", "flask", "--app", "agentlens", "run"],
    "agentlens": [str(BIN / "agentlens"), "run"],
}


def start(command, tmp_path, port=None, extra=()):
    environment = {"AGENTLENS_DATABASE": str(tmp_path / "port.sqlite3"),
                   "AGENTLENS_SECRET_KEY": server.SECRET_KEY}
    env = server.clean_environment(environment)
    env.pop("PORT", None)
    env.pop("FLASK_RUN_PORT", None)
    if port is not None:
        env["PORT"] = str(port)
    log = open(tmp_path / "output.log", "wb")
    process = subprocess.Popen([*COMMANDS[command], *extra], cwd=server.REPO, env=env,
                               stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    return process


def stop(process):
    if process.poll() is None:
        os.kill(process.pid, signal.SIGINT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(10)


def answers_on(port, process, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            response = requests.get(f"http://127.0.0.1:{port}/health", timeout=1,
                                    proxies={"http": None, "https": None})
            return response.json()["status"] == "ok"
        except requests.RequestException:
            time.sleep(0.1)
    return False


@pytest.mark.parametrize("command", COMMANDS)
def test_listens_on_port(command, tmp_path):
    port = server.free_port()
    process = start(command, tmp_path, port=port)
    try:
        assert answers_on(port, process), (tmp_path / "output.log").read_text()
    finally:
        stop(process)


@pytest.mark.parametrize("command", ["flask", "agentlens"])
def test_the_port_option_wins(command, tmp_path):
    port, other = server.free_port(), server.free_port()
    process = start(command, tmp_path, port=other, extra=["--port", str(port)])
    try:
        assert answers_on(port, process), (tmp_path / "output.log").read_text()
    finally:
        stop(process)


@pytest.mark.parametrize("command", ["flask", "agentlens"])
def test_3000_by_default(command, tmp_path):
    """Whether or not something else holds 3000 on this machine, the server tries 3000."""
    process = start(command, tmp_path)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            output = (tmp_path / "output.log").read_text()
            if "127.0.0.1:3000" in output or "Port 3000 is in use" in output:
                break
            assert process.poll() is None or "3000" in output, output
            time.sleep(0.1)
        else:
            pytest.fail((tmp_path / "output.log").read_text())
    finally:
        stop(process)
