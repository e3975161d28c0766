"""Security headers on every response, as helmet gives the reference server.

A view that sets its own ``Content-Security-Policy`` (an HTML page) or
``Cache-Control`` (a static file) keeps it; everything else is data, served
with a policy that loads nothing and may not be framed, and is never cached.
"""

STRICT_CSP = "default-src 'none'; frame-ancestors 'none'"

ALWAYS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
)
# Added with the strict policy, unless the view set its own Content-Security-Policy.
FOR_DATA = (("Content-Security-Policy", STRICT_CSP), ("X-Frame-Options", "DENY"))


def add_security_headers(response):
    # One pass over the headers the view set (werkzeug's setdefault scans them for each).
    present = {name.lower() for name, _ in response.headers.items()}
    added = list(ALWAYS)
    if "content-security-policy" not in present:
        added += FOR_DATA
    added.append(("Cache-Control", "no-store"))
    response.headers.extend([(name, value) for name, value in added
                             if name.lower() not in present])
    return response


def init_app(app):
    app.after_request(add_security_headers)
