import itertools

import pytest

from agentlens import create_app
from agentlens.db import close_all, get_db

_app_numbers = itertools.count()


@pytest.fixture
def make_app(tmp_path):
    """Build an app on its own temporary database; keyword arguments override config.

    Rate limits are off unless a test turns them on (RATELIMIT_ENABLED=True).
    The apps' kept connections are closed after the test.
    """
    apps = []

    def make(**overrides):
        config = {
            "DATABASE": str(tmp_path / f"agentlens-{next(_app_numbers)}.sqlite3"),
            "RATELIMIT_ENABLED": False,
            "SECRET_KEY": "test-secret-key-for-signing-tokens-0123456789",
            **overrides,
        }
        apps.append(create_app(config))
        return apps[-1]

    yield make
    for app in apps:
        close_all(app)


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def conn(app):
    """A connection to the app's database, for calling domain functions without HTTP."""
    with app.app_context():
        yield get_db()
