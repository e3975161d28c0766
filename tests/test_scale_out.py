"""Several hosts over one PostgreSQL with the rate limits in Redis: two gunicorns
(two workers each) on two ports, as two machines behind a proxy would run."""
import random

import redis

import server as live


def redis_url():
    """A Redis database of its own for this test, emptied first (this machine's Redis
    keeps nothing on disk; other runs use other numbers or finish within a minute)."""
    number = random.randrange(1, 16)
    redis.Redis.from_url(f"redis://127.0.0.1:6379/{number}").flushdb()
    return f"redis://127.0.0.1:6379/{number}"


def test_two_hosts_share_the_per_ip_limits_through_redis(tmp_path, postgresql_database):
    environment = {"AGENTLENS_DATABASE": postgresql_database.new_schema(),
                   "AGENTLENS_RATE_LIMITS": "on", "AGENTLENS_RATE_LIMIT_SESSIONS": "6/minute",
                   "RATELIMIT_STORAGE_URI": redis_url()}
    first = live.start_server(tmp_path / "a", environment=environment)
    try:
        second = live.start_server(tmp_path / "b", environment=environment)
        try:
            answers = [host.get("/sessions") for host in (first, second) * 3]
            assert [a.status_code for a in answers] == [200] * 6
            # One count for the client, whichever host answered: 5, 4, ... 0 left.
            assert [a.headers["RateLimit-Remaining"] for a in answers] == list("543210")
            for host in (first, second):
                refused = host.get("/sessions")
                assert refused.status_code == 429
                assert "error" in refused.json()
        finally:
            second.stop()
    finally:
        first.stop()

