"""API keys, client addresses and rate limits."""
import functools
import hashlib
import hmac
import math
import time
import uuid

import jwt

from flask import current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from werkzeug.middleware.proxy_fix import ProxyFix

from .errors import APIError



def key_is_valid(candidate, keys):
    """Compare against every configured key in constant time."""
    candidate = candidate.encode()
    matches = [hmac.compare_digest(candidate, key.encode()) for key in keys]
    return any(matches)


def check_key(candidate, header):
    """Raise 401 unless ``candidate`` is a configured key (always passes in dev mode)."""
    keys = current_app.config["API_KEYS"]
    if not keys:
        return
    if not candidate:
        raise APIError(401, f"Missing API key: send it in the {header} header")
    if not key_is_valid(candidate, keys):
        raise APIError(401, "Invalid API key")


def credential_label(credential):
    """What may be stored about a credential: itself in dev mode (it proves
    nothing), else only a fingerprint, so one key holder cannot read another's key."""
    if not credential or not current_app.config["API_KEYS"]:
        return credential or None
    return "sha256:" + hashlib.sha256(credential.encode()).hexdigest()[:16]


def require_api_key(view):
    """Require a valid ``X-API-Key`` when AGENTLENS_API_KEY is set."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        check_key(request.headers.get("X-API-Key"), "X-API-Key")
        return view(*args, **kwargs)

    return wrapped


def key_set_fingerprint():
    """What a token carries (claim ``keys``) of the API key set it was issued under:
    an HMAC of the set (order and repeats aside; empty in dev mode) under SECRET_KEY,
    so it reveals nothing of the keys, not even to a guess."""
    key_set = "\n".join(sorted(set(current_app.config["API_KEYS"])))
    return hmac.new(current_app.config["SECRET_KEY"].encode(), key_set.encode(),
                    hashlib.sha256).hexdigest()[:32]


def issue_token(claims):
    """A signed JWT (HS256, JWT_LIFETIME_SECONDS) with ``claims``, bound to the
    current API key set. Every token the server hands out is made here."""
    now = int(time.time())
    claims = {**claims, "keys": key_set_fingerprint(), "iat": now,
              "exp": now + current_app.config["JWT_LIFETIME_SECONDS"]}
    return jwt.encode(claims, current_app.config["SECRET_KEY"], algorithm="HS256")


def token_claims(token, required, renew_at, invalid="Invalid token"):
    """The claims of ``token`` if this server issued it under its current API key
    set, with the ``required`` claims; else 401 (``renew_at`` says where to get
    a new one, ``invalid`` what a token that is none of ours is called). A token
    stops working when the key set changes: dev mode to keys and back, or another
    set of keys."""
    try:
        claims = jwt.decode(token, current_app.config["SECRET_KEY"], algorithms=["HS256"],
                            options={"require": ["exp", *required]})
    except jwt.ExpiredSignatureError:
        raise APIError(401, f"Token expired: get a new one from {renew_at}")
    except jwt.InvalidTokenError:
        raise APIError(401, invalid)
    if not hmac.compare_digest(str(claims.get("keys")), key_set_fingerprint()):
        raise APIError(401, f"Token issued under other API keys: get a new one from {renew_at}")
    return claims


def issue_session_token(session_id):
    """A JWT that names one session (AgentOps' create_session and reauthorize_jwt)."""
    return issue_token({"session_id": session_id})


def issue_api_token(api_key):
    """AgentOps 0.4's ``/v3/auth/token``: the key checked like every key, then a token
    that stands for it (see :func:`check_key_or_token`), and the project id the SDK
    puts on its spans: a stable id of the key that does not reveal it."""
    if current_app.config["API_KEYS"] and not api_key:
        raise APIError(401, "Missing API key: send it as api_key in the body")
    check_key(api_key, "api_key")
    digest = hmac.new(current_app.config["SECRET_KEY"].encode(), (api_key or "").encode(),
                      "sha256")
    project_id = str(uuid.UUID(bytes=digest.digest()[:16], version=4))
    return issue_token({"project_id": project_id}), project_id


def check_key_or_token():
    """``X-API-Key``, or ``Authorization: Bearer`` with an API key or a token from
    :func:`issue_api_token` issued under the key set configured now; 401 otherwise.
    Always passes in dev mode."""
    keys = current_app.config["API_KEYS"]
    if not keys:
        return
    if "X-API-Key" in request.headers:
        return check_key(request.headers["X-API-Key"], "X-API-Key")
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        raise APIError(401, "Missing API key: send X-API-Key, or Authorization: Bearer "
                            "<API key or token from /v3/auth/token>")
    if not key_is_valid(credential, keys):
        token_claims(credential, ["project_id"], "/v3/auth/token", "Invalid API key or token")


def bearer_session():
    """The session named by the request's ``Authorization: Bearer`` JWT; 401 otherwise."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise APIError(401, "Missing token: send Authorization: Bearer <jwt> from create_session")
    return token_claims(token.strip(), ["session_id"], "/v2/reauthorize_jwt")["session_id"]


def add_rate_limit_headers(response):
    """``RateLimit-*`` as the IETF draft and the reference give them: Reset in seconds."""
    current = current_app.extensions["agentlens_limiter"].current_limit
    if current is None:
        return response
    reset_in = max(0, math.ceil(current.window[0] - time.time()))
    response.headers["RateLimit-Limit"] = str(current.limit.amount)
    response.headers["RateLimit-Remaining"] = str(max(0, current.remaining))
    response.headers["RateLimit-Reset"] = str(reset_in)
    if response.status_code == 429:
        response.headers["Retry-After"] = str(reset_in)
    return response


def per_worker_limits_warning(config, workers):
    """What a server of several worker processes says at start-up when each
    process counts the rate limits in its own memory; None when that is not so."""
    storage = config["RATELIMIT_STORAGE_URI"]
    if workers < 2 or not config["RATELIMIT_ENABLED"] or not storage.startswith("memory://"):
        return None
    return (f"Rate limits are counted per worker: with {workers} workers and "
            f"RATELIMIT_STORAGE_URI={storage}, one client may make {workers} times each limit. "
            "Set RATELIMIT_STORAGE_URI=redis://... to share them.")


def init_app(app, limited_blueprints):
    """Rate-limit each blueprint per client IP, the limit shared by its routes.

    ``limited_blueprints`` maps a blueprint to the config key of its limit.
    A limiter per app keeps the counts of apps (and tests) apart.
    """
    if app.config["TRUST_PROXY"] > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["TRUST_PROXY"])
    limiter = Limiter(key_func=get_remote_address, headers_enabled=False)
    limiter.init_app(app)
    for blueprint, config_key in limited_blueprints.items():
        limiter.shared_limit(app.config[config_key], scope=blueprint.name,
                             exempt_when=lambda: request.method == "OPTIONS")(blueprint)
    app.extensions["agentlens_limiter"] = limiter
    app.extensions["agentlens_rate_limited"] = {blueprint.name for blueprint in limited_blueprints}
    app.after_request(add_rate_limit_headers)
