"""Schemathesis against the real server (gunicorn, 2 workers) and its own /openapi.json:
every operation, with the credentials and without them, must answer without a 5xx,
with a status, content type, headers and body that the document describes, and in time.

Examples per operation are bounded so that a run takes well under a minute on 2 cores.
"""
import subprocess
import sys

import pytest

import server

API_KEY = "schemathesis-key"
# What the document promises: no 5xx, and every response as documented.
CHECKS = ",".join([
    "not_a_server_error", "status_code_conformance", "content_type_conformance",
    "response_headers_conformance", "response_schema_conformance",
])
keyed_server = server.server_fixture("keyed_server", api_key=API_KEY, scope="module")


def run_schemathesis(live, headers, workdir, max_examples, phases):
    """Run the schemathesis CLI; fail with its report when it finds anything.
    ``workdir`` keeps its example database out of the repository."""
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{live.url}/openapi.json",
        "--checks", CHECKS, "--max-examples", str(max_examples),
        "--phases", phases,
        "--request-timeout", "10", "--max-response-time", "5",
        "--suppress-health-check", "too_slow", "--no-color",
    ]
    for name, value in headers.items():
        command += ["--header", f"{name}: {value}"]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=600,
                            env=server.clean_environment())
    report = result.stdout + result.stderr
    assert result.returncode == 0, report + "\nserver log:\n" + live.log()
    assert "Traceback" not in live.log(), live.log()
    return report


def credentials(live):
    """Every credential the API takes; the JWT is for a session created here."""
    created = live.http.post(f"{live.url}/v2/create_session", json={"session_id": "fuzzed"},
                             headers={"X-Agentops-Api-Key": API_KEY}, timeout=10)
    assert created.status_code == 200, created.text
    return {"X-API-Key": API_KEY, "X-Org-Id": API_KEY, "X-Agentops-Api-Key": API_KEY,
            "Authorization": f"Bearer {created.json()['jwt']}"}


def operations_tested(report):
    line = next(line for line in report.splitlines() if "Tested:" in line)
    return int(line.split("Tested:")[1].split()[0])


@pytest.fixture(scope="module")
def expected_operations(keyed_server):
    """Every operation the document lists, but GET /openapi.json: schemathesis does not
    test the document it was given (it has no parameters to vary)."""
    document = keyed_server.get_json("/openapi.json")
    return sum(len(set(item) & {"get", "post", "put", "patch", "delete"})
               for item in document["paths"].values()) - 1


def test_with_credentials(keyed_server, expected_operations, tmp_path):
    report = run_schemathesis(keyed_server, credentials(keyed_server), tmp_path,
                              max_examples=40, phases="coverage,fuzzing,stateful")
    assert operations_tested(report) == expected_operations, report


def test_without_credentials(keyed_server, expected_operations, tmp_path):
    report = run_schemathesis(keyed_server, {}, tmp_path, max_examples=5,
                              phases="coverage,fuzzing")
    assert operations_tested(report) == expected_operations, report
