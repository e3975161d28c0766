"""The Flask app class: URLs are taken as sent, and OPTIONS answers JSON like the rest."""
from flask import Flask, jsonify
from werkzeug.routing import PathConverter


class AnyPath(PathConverter):
    """``<path:...>`` that also matches a newline (werkzeug's ``.`` does not): a session
    id is read back exactly as it was sent."""

    regex = "[^/](?s:.*?)"


class AgentLens(Flask):
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
