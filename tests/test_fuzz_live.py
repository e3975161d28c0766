"""A few fuzzed requests against a real gunicorn (the production setup), in dev mode and
with keys: raw bytes on the socket, so bodies go in any framing, chunked ones included
(well-formed, and with chunk sizes that are not). No answer is a 5xx or anything but
strict JSON."""
import http.client
import random
import socket

import pytest
from hypothesis import example, given, settings, strategies as st

from fuzz import (FUZZ, KEYS, agentlens_event, bad_values, check_answer, content_types, dump,
                  forwarded_for, near, AGENTLENS_FIELDS)
from server import start_server

BAD_CHUNK_SIZES = [b"zz", b"-1", b"ffffffffffffffffffff", b"1;" + b"x" * 5000, b""]
ROUTES = ["/events", "/api/v1/capture-session", "/api/v1/capture-event", "/v2/create_session",
          "/sessions/compare", "/v2/reauthorize_jwt"]


@pytest.fixture(scope="module", params=["dev mode", "keys set"])
def live(request, tmp_path_factory):
    keys = ",".join(KEYS) if request.param == "keys set" else None
    # A malformed chunk can leave gunicorn waiting for bytes that never come: the
    # client timeout ends that wait (with a 408), well before the test's own.
    server = start_server(tmp_path_factory.mktemp("fuzz-live"), api_key=keys,
                          environment={"AGENTLENS_CLIENT_TIMEOUT": "2"})
    yield server
    server.stop()


def chunked(body, rnd, bad_size=None):
    """``body`` in chunks cut at random places; a chunk-size line ``bad_size`` if given."""
    pieces, rest = [], body
    while rest:
        size = rnd.randint(1, max(1, len(rest)))
        pieces.append(b"%x\r\n%s\r\n" % (size, rest[:size]))
        rest = rest[size:]
    if bad_size is not None:
        pieces.insert(rnd.randint(0, len(pieces)), bad_size + b"\r\n")
    return b"".join(pieces) + b"0\r\n\r\n"


def exchange(server, request_bytes):
    """Send raw bytes; return (status, content type, body) of the answer."""
    host, port = server.url.rsplit("/", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request_bytes)
        response = http.client.HTTPResponse(sock, method="POST")
        response.begin()
        return response.status, response.getheader("Content-Type", ""), response.read()


bodies = st.one_of(
    st.lists(near(agentlens_event(), AGENTLENS_FIELDS) | agentlens_event(), min_size=1,
             max_size=3).map(lambda events: {"events": events}),
    bad_values)


@settings(FUZZ, max_examples=15)
@given(path=st.sampled_from(ROUTES), body=bodies, framing=st.sampled_from(
    ["length", "chunked", "bad chunk"]), bad_size=st.sampled_from(BAD_CHUNK_SIZES),
    content_type=content_types, client_address=forwarded_for, rnd=st.randoms(use_true_random=False))
@example(path="/events", body={"events": [{"session_id": "s"}]}, framing="bad chunk",
         bad_size=b"zz", content_type="application/json", client_address=None,
         rnd=random.Random(0))  # issue 8, finding 8
def test_raw_requests(live, path, body, framing, bad_size, content_type, client_address, rnd):
    data = dump(body)
    head = [f"POST {path} HTTP/1.1", "Host: fuzz", "Connection: close"]
    if live.api_key:
        head += [f"X-API-Key: {live.api_key}", f"X-Org-Id: {live.api_key}",
                 f"X-Agentops-Api-Key: {live.api_key}"]
    if content_type is not None:
        head.append(f"Content-Type: {content_type}")
    if client_address is not None:
        head.append(f"X-Forwarded-For: {client_address}")
    if framing == "length":
        head.append(f"Content-Length: {len(data)}")
    else:
        head.append("Transfer-Encoding: chunked")
        data = chunked(data, rnd, bad_size if framing == "bad chunk" else None)
    request_bytes = "\r\n".join(head).encode("latin-1") + b"\r\n\r\n" + data
    check_answer(*exchange(live, request_bytes))
