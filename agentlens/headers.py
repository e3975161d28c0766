"""Security headers on every response, as helmet gives the reference server.

A view that sets its own ``Content-Security-Policy`` (an HTML page) or
``Cache-Control`` (a static file) keeps it; everything else is data, served
with a policy that loads nothing and may not be framed, and is never cached.
"""

STRICT_CSP = "default-src 'none'; frame-ancestors 'none'"

ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def add_security_headers(response):
    for name, value in ALWAYS.items():
        response.headers.setdefault(name, value)
    if "Content-Security-Policy" not in response.headers:
        response.headers["Content-Security-Policy"] = STRICT_CSP
        response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app):
    app.after_request(add_security_headers)
