"""The servers the benchmarks load: AgentLens under real gunicorn, or one already running.

gunicorn is started from the repository root, so it reads ./gunicorn.conf.py when
there is one; ``--gunicorn-args`` (default: the README's production options when
there is no such file) go on its command line and win over the file.
"""
import http.client
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
README_GUNICORN_ARGS = "-w 4 -k gthread"  # README: "In production: gunicorn -w 4 -k gthread ..."
DEFAULT_GUNICORN_ARGS = "" if (REPO / "gunicorn.conf.py").exists() else README_GUNICORN_ARGS
SECRET = "bench-secret"  # a fixed key: no instance/secret_key written into the work tree
TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    name: str
    host: str
    port: int
    pid: int | None  # the process whose tree's CPU time counts (None: not measured)
    process: subprocess.Popen | None = None  # set when this script started it

    def connect(self, timeout=60):
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def cpu_seconds(self):
        return None if self.pid is None else cpu_seconds(self.pid)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gunicorn_command(port, gunicorn_args, app="wsgi:app"):
    sibling = Path(sys.executable).with_name("gunicorn")
    gunicorn = str(sibling) if sibling.exists() else shutil.which("gunicorn")
    # gunicorn >= 25 opens a control socket at one shared path: servers running at once collide.
    help_text = subprocess.run([gunicorn, "--help"], capture_output=True, text=True).stdout
    no_control = ["--no-control-socket"] if "--no-control-socket" in help_text else []
    return [gunicorn, *shlex.split(gunicorn_args), "-b", f"127.0.0.1:{port}", *no_control, app]


def start_gunicorn(database, gunicorn_args, log):
    """AgentLens on ``database`` with rate limits off; returns once /health answers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTLENS_")}
    env.update(AGENTLENS_DATABASE=str(database), AGENTLENS_RATE_LIMITS="off",
               AGENTLENS_SECRET_KEY=SECRET)
    return start("agentlens", free_port(), gunicorn_args, "wsgi:app", env, log)


# The floor's gunicorn settings: ./gunicorn.conf.py's, read by the floor's own gunicorn,
# without the hooks that need AgentLens's app.
FLOOR_CONFIG = """\
exec(compile(open({conf!r}).read(), {conf!r}, "exec"))
for hook in ("post_worker_init", "worker_exit"):
    globals().pop(hook, None)
"""


def start_floor(gunicorn_args, log, config_dir):
    """bench/floor_app.py under AgentLens's gunicorn settings and ``gunicorn_args``;
    returns once it answers."""
    args = gunicorn_args
    if (REPO / "gunicorn.conf.py").exists():
        config = Path(config_dir) / "floor.gunicorn.conf.py"
        config.write_text(FLOOR_CONFIG.format(conf=str(REPO / "gunicorn.conf.py")))
        args = f"-c {config} {gunicorn_args}"
    return start("floor", free_port(), f"--pythonpath bench {args}", "floor_app:app",
                 dict(os.environ), log, health=("POST", "/events"))


def start(name, port, gunicorn_args, app, env, log, health=("GET", "/health")):
    command = gunicorn_command(port, gunicorn_args, app)
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=log,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    server = Server(name, "127.0.0.1", port, process.pid, process)
    print(f"{name}: {shlex.join(['gunicorn', *command[1:]])}  (master {process.pid})", flush=True)
    try:
        wait_for_health(server, health=health)
        wait_until_idle(server)
    except BaseException:
        stop(server)
        raise
    return server


def wait_until_idle(server, timeout=60):
    """Until gunicorn's processes use next to no CPU: /health answers as soon as one
    worker has loaded the app, while the others may still be importing it (a second
    of CPU each), which would count in the first measurement."""
    deadline, before = time.monotonic() + timeout, server.cpu_seconds()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        after = server.cpu_seconds()
        if after - before <= 0.02:
            return
        before = after
    raise RuntimeError(f"{server.name} still busy {timeout} s after it started")


def attach(name, url, pid=None):
    """A server already running at ``url``; its CPU is measured from ``pid`` or, when
    not given, from the process that listens on the URL's port (Linux ``ss``)."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.path not in ("", "/"):
        sys.exit(f"--target must look like http://127.0.0.1:PORT, not {url!r}")
    server = Server(name, parts.hostname, parts.port or 80, pid or listening_pid(parts.port or 80))
    wait_for_health(server)
    print(f"{name}: {url}  ({'pid ' + str(server.pid) if server.pid else 'CPU not measured'})",
          flush=True)
    return server


def wait_for_health(server, timeout=30, health=("GET", "/health")):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process is not None and server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.process.returncode}")
        conn = server.connect(timeout=2)
        try:
            conn.request(*health)
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.1)
        finally:
            conn.close()
    raise RuntimeError(f"{server.name} did not answer /health within {timeout} s")


def stop(server):
    """Stop a server this script started: SIGINT to its master's PID (quick shutdown)."""
    if server.process is None:
        return
    server.process.send_signal(2)
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


def listening_pid(port):
    if not shutil.which("ss"):
        return None
    out = subprocess.run(["ss", "-ltnpH", f"( sport = :{port} )"], capture_output=True, text=True).stdout
    pids = {int(part.split(",")[0]) for part in out.split("pid=")[1:]}
    return min(pids) if pids else None  # gunicorn's workers share the socket: the master is oldest


def stat_fields(pid):
    """/proc/<pid>/stat after the command name: field 3 of proc(5) is index 0."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def children(pid):
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(stat_fields(entry.name)[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError):
                pass  # ended meanwhile
    return found


def descendants(pid):
    found = children(pid)
    for child in list(found):
        found += descendants(child)
    return found


def cpu_seconds(pid):
    """utime + stime of ``pid`` and every live descendant (all threads), plus what the
    ended children it waited for used (cutime + cstime): so a worker that exits
    during a measurement still counts."""
    fields = stat_fields(pid)
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))
    for child in descendants(pid):
        try:
            fields = stat_fields(child)
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / TICK


def rss_kb(pid, field="VmRSS"):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def serving_pids(server):
    """The processes that answer requests: gunicorn's workers, or the server itself."""
    return children(server.pid) or [server.pid]


def load_average():
    return "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
