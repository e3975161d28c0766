"""Refuse and record every network connection except to the AgentLens server under test.

    import netguard; netguard.install()      # first thing in an SDK script
    ...
    netguard.attempts                        # [(what, host, port), ...] that were refused

The allowed addresses are ``SDK_GUARD_ALLOW=127.0.0.1:PORT[,127.0.0.1:PORT...]`` (set by
tests/server.py: the server under test, and a fake LLM the test may run beside it).
A DNS lookup of any non-loopback name is refused (so e.g. pypi.org fails fast),
and so is a connection to any other address, loopback included: the scripts run
with HTTP(S)_PROXY pointing at 127.0.0.1:9, so a request that would have gone
out through a proxy shows up here as a connection to port 9.
Unix sockets (asyncio's self-pipe, in-memory MCP streams) are not affected.
"""
import os
import socket

attempts = []
_LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}
_original_getaddrinfo = socket.getaddrinfo
_original_connect = socket.socket.connect
_original_connect_ex = socket.socket.connect_ex
_allowed_ports = set()


def _loopback(host):
    if isinstance(host, bytes):
        host = host.decode()
    return host is None or host in _LOOPBACK_NAMES or str(host).startswith("127.")


def _getaddrinfo(host, port, *args, **kwargs):
    if not _loopback(host):
        attempts.append(("getaddrinfo", str(host), port))
        raise socket.gaierror(socket.EAI_NONAME, f"netguard: blocked lookup of {host}")
    return _original_getaddrinfo(host, port, *args, **kwargs)


def _check(sock, address):
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return True
    host, port = address[0], address[1]
    if _loopback(host) and int(port) in _allowed_ports:
        return True
    attempts.append(("connect", str(host), port))
    return False


def _connect(self, address):
    if not _check(self, address):
        raise ConnectionRefusedError(f"netguard: blocked connect to {address}")
    return _original_connect(self, address)


def _connect_ex(self, address):
    if not _check(self, address):
        return 111  # ECONNREFUSED
    return _original_connect_ex(self, address)


def install():
    for address in os.environ["SDK_GUARD_ALLOW"].split(","):
        _allowed_ports.add(int(address.rpartition(":")[2]))
    socket.getaddrinfo = _getaddrinfo
    socket.socket.connect = _connect
    socket.socket.connect_ex = _connect_ex
