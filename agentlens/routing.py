"""The Flask app class: URLs are taken as sent, OPTIONS answers JSON like the rest,
and the session cookie costs nothing to the requests that carry none."""
from flask import Flask, jsonify
from flask.sessions import SecureCookieSessionInterface
from werkzeug.routing import PathConverter


class AnyPath(PathConverter):
    """``<path:...>`` that also matches a newline (werkzeug's ``.`` does not): a session
    id is read back exactly as it was sent."""

    regex = "[^/](?s:.*?)"


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed cookie session (the pages' login), without building its signer
    for a request that has no such cookie: every API call."""

    def open_session(self, app, request):
        if app.secret_key and ("HTTP_COOKIE" not in request.environ
                               or self.get_cookie_name(app) not in request.cookies):
            return self.session_class()
        return super().open_session(app, request)


class AgentLens(Flask):
    session_interface = CookieSessions()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # No 308 (with an HTML body) from ``//`` to ``/``: it would turn /sessions/a//b
        # into session a/b, and /sessions//export into the session "export".
        self.url_map.merge_slashes = False
        self.url_map.converters["path"] = AnyPath

    def make_default_options_response(self):
        """OPTIONS answers ``{"allow": [...]}`` with the Allow header."""
        allowed = super().make_default_options_response().allow
        response = jsonify({"allow": sorted(allowed)})
        response.allow.update(allowed)
        return response
