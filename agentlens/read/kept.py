"""What a process keeps of the sessions it has read, by the revision each had then.

A session's revision is drawn anew at every change to it or to its events
(store.Change, session_state.new_revision), so what was computed from a session
at the revision it has now is what computing it again would give.
"""
import threading
from collections import OrderedDict


class KeptByRevision:
    """The last ``size`` values computed, by key, each with its session's revision; a
    value over ``max_bytes`` (as its caller measures it) is not kept, so the whole
    holds at most ``size * max_bytes``. A value kept is shared: callers do not change it."""

    def __init__(self, size, max_bytes):
        self.size, self.max_bytes = size, max_bytes
        self.entries, self.lock = OrderedDict(), threading.Lock()

    def get(self, key, revision):
        """The value kept for ``key`` at ``revision``, or None."""
        with self.lock:
            entry = self.entries.get(key)
            if entry is None or entry[0] != revision:
                return None
            self.entries.move_to_end(key)
            return entry[1]

    def put(self, key, revision, value, size):
        if size > self.max_bytes:
            return
        with self.lock:
            self.entries[key] = (revision, value)
            self.entries.move_to_end(key)
            if len(self.entries) > self.size:
                self.entries.popitem(last=False)
