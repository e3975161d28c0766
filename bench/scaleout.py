"""Scale-out benchmark: POST /events to one and then two app processes over one
PostgreSQL, beside SQLite, loaded by the same client in the same run.

    python bench/scaleout.py [--seconds 10] [--batch 100] [--rounds 1]
                             [--postgresql postgresql://127.0.0.1:5432]

Layouts, each on a database of its own (a new SQLite file; a new PostgreSQL database,
dropped afterwards), each host ``gunicorn -w 2`` (with ./gunicorn.conf.py) on a port
of its own:

- ``sqlite x1``: one host on SQLite;
- ``postgresql x1``: one host on PostgreSQL;
- ``postgresql x2``: two hosts on PostgreSQL, as two machines behind a proxy would be.

Each layout gets 8 client threads (ingest.py's: keep-alive connections, ~1 KB events,
100 per session, a failed request sent again), spread evenly over its hosts, for
--seconds. Per layout: events/s, p50/p99 latency, and CPU per acknowledged event:
the app processes' (every host's gunicorn and workers) and, on PostgreSQL, the
database server's too (the postmaster and its backends, from /proc: run this as
root or as the postgres user), since SQLite does that work inside the app.

Then the verify pass: every acknowledged event stored once (read over HTTP, from
the first host), and in the database itself the event count equal to what was
acknowledged and every total and rollup equal to a rebuild from the events
(``agentlens check``): 0 lost, 0 doubled, totals exact.

Client, app and database share this machine's cores: compare the layouts' ratios
in one run, with the load average printed on each line.
"""
import argparse
import os
import sys
import tempfile
import threading
from contextlib import closing
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # agentlens from this work tree

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402

import ingest  # noqa: E402
from server import cpu_seconds, load_average, start_gunicorn, stop  # noqa: E402

from agentlens import db, recount  # noqa: E402

CLIENTS = 8
HOST_ARGS = "-w 2"


def postmaster_pid(url):
    with psycopg.connect(f"{url}/postgres") as conn:
        directory = conn.execute("SHOW data_directory").fetchone()[0]
    return int(Path(directory, "postmaster.pid").read_text().split()[0])


class Layout:
    def __init__(self, name, database, hosts, database_pid=None):
        self.name, self.database, self.hosts = name, database, hosts
        self.database_pid = database_pid

    def cpu(self):
        total = sum(cpu_seconds(host.pid) for host in self.hosts)
        return total + (cpu_seconds(self.database_pid) if self.database_pid else 0.0)


def run(layout, load, size, seconds):
    """Every host gets CLIENTS / len(hosts) client threads for ``seconds``, at once."""
    per_host = CLIENTS // len(layout.hosts)
    results, threads = [None] * len(layout.hosts), []
    ingest.CONNECTIONS = per_host
    before = layout.cpu()

    def drive(index, host):
        results[index] = ingest.hammer(host, load, size, seconds)

    for index, host in enumerate(layout.hosts):
        threads.append(threading.Thread(target=drive, args=(index, host)))
        threads[-1].start()
    for thread in threads:
        thread.join()
    cpu = layout.cpu() - before
    total = results[0]  # the hosts ran side by side: events add up, time does not
    for other in results[1:]:
        total.acked += other.acked
        total.latencies = sorted(total.latencies + other.latencies)
        total.retries += other.retries
        total.client_cpu += other.client_cpu
        total.elapsed = max(total.elapsed, other.elapsed)
    total.server_cpu = cpu
    return total


def check_store(layout, load):
    """In the database: as many events as acknowledged, and every total exact."""
    with closing(db.connect(layout.database)) as conn:
        stored = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        differences = recount.check(conn)
    ok = stored == len(load.acked) and not differences
    print(f"check {layout.name}: {stored:,} events stored, {len(load.acked):,} acknowledged, "
          f"{len(differences)} totals differ from a recount: {'OK' if ok else 'FAILED'}")
    return ok


def new_postgresql_database(url, name):
    with psycopg.connect(f"{url}/postgres", autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return f"{url}/{name}"


def drop_postgresql_database(url, name):
    with psycopg.connect(f"{url}/postgres", autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--postgresql", default="postgresql://127.0.0.1:5432",
                        help="the PostgreSQL server (without a database name)")
    args = parser.parse_args()
    database_pid = postmaster_pid(args.postgresql)
    print(f"{os.cpu_count()} cores, {load_average()}; batch {args.batch}, {args.seconds} s "
          f"x {args.rounds} rounds, {CLIENTS} clients per layout, hosts gunicorn {HOST_ARGS}")
    with tempfile.TemporaryDirectory(prefix="agentlens-scaleout-") as tmp:
        log = open(Path(tmp, "gunicorn.log"), "ab")
        names = [f"agentlens_scaleout_{os.getpid()}_{n}" for n in (1, 2)]
        layouts = []
        try:
            sqlite_path = str(Path(tmp, "scaleout.sqlite3"))
            layouts.append(Layout("sqlite x1", sqlite_path, [start_gunicorn(sqlite_path, HOST_ARGS, log)]))
            for count, name in zip((1, 2), names):
                url = new_postgresql_database(args.postgresql, name)
                hosts = [start_gunicorn(url, HOST_ARGS, log) for _ in range(count)]
                layouts.append(Layout(f"postgresql x{count}", url, hosts, database_pid))
            loads = {layout.name: ingest.Load(f"{ingest.RUN}-{n}") for n, layout in enumerate(layouts)}
            totals = {}
            for _ in range(args.rounds):
                for layout in layouts:
                    m = run(layout, loads[layout.name], args.batch, args.seconds)
                    if layout.name in totals:
                        totals[layout.name].absorb(m)
                    else:
                        totals[layout.name] = m
                    ingest.report(f"{layout.name:<14}", m)
            print("\nsummary (all rounds):")
            for layout in layouts:
                m = totals[layout.name]
                print(f"  {layout.name:<14} {m.rate:>9,.0f} events/s  p50 {m.quantile(0.5):6.1f} ms"
                      f"  p99 {m.quantile(0.99):6.1f} ms  CPU {m.server_cpu / m.acked * 1e6:5.1f} µs/event"
                      f" (app + database)")
            ok = all([ingest.verify(layout.hosts[0], loads[layout.name]) for layout in layouts]
                     + [check_store(layout, loads[layout.name]) for layout in layouts])
        finally:
            for layout in layouts:
                for host in layout.hosts:
                    stop(host)
            for name in names:
                drop_postgresql_database(args.postgresql, name)
            log.close()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
