"""The one line an SDK script prints for the test that ran it: ``RESULT <json>``."""
import json
import sys

import netguard


def emit(**values):
    values["network_attempts"] = netguard.attempts
    sys.stdout.write("RESULT " + json.dumps(values, default=str) + "\n")
    sys.stdout.flush()
