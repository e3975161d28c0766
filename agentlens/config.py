"""Configuration: defaults, then ``instance/config.py``, then the environment.

The names of the environment variables are fixed in the API's DECISIONS.md;
``ENVIRONMENT`` maps each one to the config key it sets and how to read it.
"""
import math
import os
import secrets


def _flag(value):
    return value.strip().lower() not in ("off", "0", "false", "no")


def _seconds(value):
    seconds = float(value)
    if not 0 < seconds < float("inf"):
        raise ValueError("not a positive number of seconds")
    return seconds


def _keys(value):
    """Comma-separated values; empty means none, but only commas and blanks is a mistake."""
    keys = [key.strip() for key in value.split(",") if key.strip()]
    if value.strip() and not keys:
        raise ValueError("no value between the commas")
    return keys


def _positive(parse):
    def parse_positive(value):
        number = parse(value)
        if not (number > 0 and math.isfinite(number)):
            raise ValueError("not a positive number")
        return number
    return parse_positive


DEFAULTS = {
    "API_KEYS": [],
    "CORS_ORIGINS": ["*"],
    "RATELIMIT_ENABLED": True,
    "RATELIMIT_EVENTS": "60/minute",
    "RATELIMIT_SESSIONS": "120/minute",
    "RATELIMIT_ANALYTICS": "120/minute",
    "RATELIMIT_STORAGE_URI": "memory://",
    "TRUST_PROXY": 0,
    "MAX_BATCH": 1000,
    "MAX_CONTENT_LENGTH": 10 * 1024 * 1024,
    "MAX_FIELD_BYTES": 1024 * 1024,
    "RATELIMIT_SDK": "600/minute",
    "JWT_LIFETIME_SECONDS": 24 * 3600,
    "RETENTION_DAYS": None,
    "RETENTION_INTERVAL_SECONDS": 600,
    "PRICES_FILE": None,
    "RATELIMIT_PRICING": "60/minute",
    "CLIENT_TIMEOUT": 10.0,
}

# environment variable -> (config key, parser)
ENVIRONMENT = {
    "AGENTLENS_API_KEY": ("API_KEYS", _keys),
    "CORS_ORIGINS": ("CORS_ORIGINS", _keys),
    "AGENTLENS_DATABASE": ("DATABASE", str),
    "AGENTLENS_RATE_LIMITS": ("RATELIMIT_ENABLED", _flag),
    "AGENTLENS_RATE_LIMIT_EVENTS": ("RATELIMIT_EVENTS", str),
    "AGENTLENS_RATE_LIMIT_SESSIONS": ("RATELIMIT_SESSIONS", str),
    "AGENTLENS_RATE_LIMIT_ANALYTICS": ("RATELIMIT_ANALYTICS", str),
    "RATELIMIT_STORAGE_URI": ("RATELIMIT_STORAGE_URI", str),
    "AGENTLENS_TRUST_PROXY": ("TRUST_PROXY", int),
    "AGENTLENS_MAX_BATCH": ("MAX_BATCH", int),
    "AGENTLENS_MAX_BODY_BYTES": ("MAX_CONTENT_LENGTH", int),
    "AGENTLENS_MAX_FIELD_BYTES": ("MAX_FIELD_BYTES", int),
    "AGENTLENS_RATE_LIMIT_SDK": ("RATELIMIT_SDK", str),
    "AGENTLENS_SECRET_KEY": ("SECRET_KEY", str),
    "AGENTLENS_RETENTION_DAYS": ("RETENTION_DAYS", _positive(int)),
    "AGENTLENS_RETENTION_INTERVAL_SECONDS": ("RETENTION_INTERVAL_SECONDS", _positive(float)),
    "AGENTLENS_PRICES": ("PRICES_FILE", str),
    "AGENTLENS_RATE_LIMIT_PRICING": ("RATELIMIT_PRICING", str),
    "AGENTLENS_CLIENT_TIMEOUT": ("CLIENT_TIMEOUT", _seconds),
}


def from_environment(environ=os.environ):
    """Return the config keys set by environment variables."""
    config = {}
    for variable, (key, parse) in ENVIRONMENT.items():
        if variable in environ:
            try:
                config[key] = parse(environ[variable])
            except ValueError:
                raise SystemExit(f"{variable}={environ[variable]!r} is not a valid value")
    return config


def instance_secret_key(instance_path):
    """The secret kept in ``instance/secret_key``, created on first use.

    Written to a temporary file and linked into place, so that several
    workers starting at once all end up reading the same complete key.
    """
    path = os.path.join(instance_path, "secret_key")
    if not os.path.exists(path):
        temporary = f"{path}.{os.getpid()}.tmp"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(temporary)
    with open(path) as handle:
        return handle.read().strip()
