import itertools

import pytest

from agentlens import create_app
from agentlens.db import close_all, get_db
from stores import STORES, TestDatabase

_app_numbers = itertools.count()
OPEN_APPS = 8


def pytest_addoption(parser):
    parser.addoption("--store", choices=(*STORES, "both"), default="both",
                     help="the store(s) the tests that build an app run on (default: both)")


def pytest_configure(config):
    config.addinivalue_line("markers", "sqlite_only: about the SQLite file itself; "
                                       "runs on SQLite only")


def pytest_generate_tests(metafunc):
    if "store" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("store")
        stores = STORES if chosen == "both" else (chosen,)
        if metafunc.definition.get_closest_marker("sqlite_only"):
            stores = [store for store in stores if store == "sqlite"]
        metafunc.parametrize("store", stores)


@pytest.fixture(scope="session")
def postgresql_database():
    database = TestDatabase()
    yield database
    database.drop()


@pytest.fixture
def new_database(store, tmp_path, postgresql_database):
    """A function that gives a new, empty database of this test's store each call:
    a SQLite file path, or a PostgreSQL URL (a schema of its own)."""
    given = []

    def new():
        if store == "postgresql":
            given.append(postgresql_database.new_schema())
            return given[-1]
        return str(tmp_path / f"agentlens-{next(_app_numbers)}.sqlite3")
    yield new
    for url in given:
        postgresql_database.release(url)


@pytest.fixture
def make_app(new_database):
    """Build an app on its own new database; keyword arguments override config.

    Rate limits are off unless a test turns them on (RATELIMIT_ENABLED=True).
    The apps' connections are closed after the test.
    """
    apps = []

    def make(**overrides):
        config = {
            "DATABASE": new_database(),
            "RATELIMIT_ENABLED": False,
            "SECRET_KEY": "test-secret-key-for-signing-tokens-0123456789",
            **overrides,
        }
        apps.append(create_app(config))
        if len(apps) > OPEN_APPS:
            # A hypothesis test builds an app per example: the older ones give back
            # their connections (PostgreSQL's are counted), and reopen if used again.
            close_all(apps[-OPEN_APPS - 1])
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
