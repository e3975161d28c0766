"""The web viewer: pages drawn from the same read functions as the JSON API.

``bp`` holds the pages (rate-limited like ``/sessions``, signed in with a key when
API keys are set); ``assets`` serves the stylesheet and script, unlimited and public.
Every page carries a Content-Security-Policy without ``unsafe-inline``: the markup
holds no script and no ``style`` attribute, and all user data is escaped text.
"""
import logging

from flask import Blueprint, render_template
from werkzeug.exceptions import HTTPException

from ..errors import http_error_message
from ..read.sessions import SessionNotFound
from . import charts, format

logger = logging.getLogger(__name__)

bp = Blueprint("web", __name__, template_folder="templates")
assets = Blueprint("web_assets", __name__, static_folder="static", static_url_path="/ui/static")

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self'",
    "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'",
))


def init_app(app):
    """Serve the assets and keep the sign-in cookie to this site's own requests."""
    app.register_blueprint(assets)
    if app.config["SESSION_COOKIE_SAMESITE"] is None:
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.jinja_env.filters.update(format.FILTERS, share=charts.share)


@bp.after_request
def page_headers(response):
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["Cache-Control"] = "no-store"  # nothing readable after signing out
    return response


@bp.errorhandler(HTTPException)
def http_error_page(error):
    message = http_error_message(error) if error.code == 429 else error.description
    return render_template("web/error.html", code=error.code, title=error.name,
                           message=message), error.code


@bp.errorhandler(SessionNotFound)
def session_not_found_page(error):
    return render_template("web/error.html", code=404, title="Not Found",
                           message=f"There is no session “{error.args[0]}”."), 404


@bp.errorhandler(Exception)
def unexpected_error_page(error):
    logger.exception("Unhandled exception")
    return render_template("web/error.html", code=500, title="Internal server error",
                           message="Something went wrong on the server; it has been logged."), 500


from . import access, pages  # noqa: E402,F401  (the views register themselves on bp)
