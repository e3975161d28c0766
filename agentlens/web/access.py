"""Who may see the pages. In dev mode (no API key set) everyone. With keys set, a
key given on the login page is remembered in Flask's signed session cookie
(HttpOnly, SameSite=Lax) as an HMAC of the key, never the key itself, and only
while that key is still configured. Every form carries a token that must match
the one in the cookie (CSRF). The JSON API never reads this cookie."""
import hashlib
import hmac
import re
import secrets

from flask import abort, current_app, redirect, render_template, request, session, url_for

from ..security import key_is_valid
from . import bp

# A local path: one leading slash, no scheme-relative "//" or "/\", no spaces or
# control characters (browsers drop some, which could turn the rest into "//host").
LOCAL_PATH = re.compile(r"/(?![/\\])[^\x00-\x20\x7f\\]*")


def keys_set():
    return bool(current_app.config["API_KEYS"])


def key_digest(key):
    secret = current_app.config["SECRET_KEY"].encode()
    return hmac.new(secret, key.encode(), hashlib.sha256).hexdigest()


def signed_in():
    if not keys_set():
        return True
    digest = session.get("key")
    return isinstance(digest, str) and key_is_valid(
        digest, [key_digest(key) for key in current_app.config["API_KEYS"]])


def csrf_token():
    """This browser's form token, created with the first form it is shown."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def local_target(target):
    return target if target and LOCAL_PATH.fullmatch(target) else url_for("web.sessions_page")


@bp.before_request
def guard():
    if request.method == "POST":
        sent, expected = request.form.get("csrf_token", ""), session.get("csrf")
        if not (isinstance(expected, str) and hmac.compare_digest(sent.encode(), expected.encode())):
            abort(400, "This form has expired or did not come from this site: "
                       "reload the page and send it again.")
    if request.endpoint != "web.login" and not signed_in():
        target = request.full_path.removesuffix("?")
        return redirect(url_for("web.login", next=target))


@bp.context_processor
def access_context():
    return {"keys_set": keys_set(), "signed_in": signed_in(), "csrf_token": csrf_token}


@bp.route("/ui/login", methods=["GET", "POST"])
def login():
    target = local_target(request.values.get("next"))
    if not keys_set():
        return redirect(target)
    error = None
    if request.method == "POST":
        key = request.form.get("key", "").strip()
        if key and key_is_valid(key, current_app.config["API_KEYS"]):
            session.clear()  # a fresh cookie, and a fresh form token, for the signed-in browser
            session["key"] = key_digest(key)
            return redirect(target)
        error = "That is not one of this server's API keys." if key else "Enter an API key."
    elif signed_in():
        return redirect(target)
    return render_template("web/login.html", error=error, target=target), 401 if error else 200


@bp.post("/ui/logout")
def logout():
    session.clear()
    return redirect(url_for("web.login"))
