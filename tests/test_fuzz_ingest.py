"""Fuzzing every ingest route in-process (Flask's test client), in dev mode and with keys:
valid, near-valid and junk bodies under any content type. No answer is a 5xx or anything
but strict JSON, the valid events of a mixed batch are stored, and what was stored
reads back as strict JSON everywhere (the session, its exports, explain, the list,
analytics, compare). See tests/fuzz.py for what is generated."""
import copy
import itertools
import random
from urllib.parse import quote

import pytest
from hypothesis import example, given, settings, strategies as st

from fuzz import (AGENTLENS_FIELDS, AGENTOPS_FIELDS, AGNOST_FIELDS, FUZZ, KEYS, STRINGS, Raw,
                  agentlens_event, agentops_event, agnost_event, bad_values, check_answer,
                  content_types, dump, junk_values, names, near, nested, usable)

MODES = {"dev mode": [], "keys set": KEYS}
_examples = itertools.count()


@pytest.fixture(params=list(MODES))
def new_client(request, make_app):
    """A client of a new app (and database) for each example: a failure is then the
    example's own, and hypothesis can shrink it."""
    return lambda: Client(make_app(API_KEYS=MODES[request.param]))


class Client:
    """Requests as the fuzz suite sends them: raw bytes, the key when keys are set."""

    def __init__(self, app):
        self.http = app.test_client()
        self.keys = app.config["API_KEYS"]

    def credentials(self):
        key = self.keys[-1] if self.keys else "anything"
        return {"X-API-Key": key, "X-Org-Id": key, "X-Agentops-Api-Key": key}

    def send(self, method, path, body=None, content_type=None, headers=None, csv_allowed=False):
        headers = {**self.credentials(), **(headers or {})}
        if content_type is not None:
            headers["Content-Type"] = content_type
        response = self.http.open(path, method=method, data=body, headers=headers)
        data = response.get_data()
        return response.status_code, check_answer(
            response.status_code, response.content_type or "", data, csv_allowed)

    def session_event_ids(self, session_id):
        status, body = self.send("GET", f"/sessions/{quote(session_id, safe='')}")
        assert status in (200, 404), (status, body)
        return set() if status == 404 else {event["event_id"] for event in body["events"]}

    def read_everything(self, session_ids):
        """Every read of the stored sessions answers strict JSON (or CSV)."""
        for session_id in session_ids:
            path = f"/sessions/{quote(session_id, safe='')}"
            for suffix in ("", "/explain", "/export", "/export?format=csv"):
                status, _ = self.send("GET", path + suffix, csv_allowed=True)
                assert status in (200, 404), (path + suffix, status)
        assert self.send("GET", "/sessions?limit=200")[0] == 200
        assert self.send("GET", "/analytics")[0] == 200
        if session_ids:
            body = dump({"session_a": session_ids[0], "session_b": session_ids[-1]})
            assert self.send("POST", "/sessions/compare", body, "application/json")[0] in (200, 404)


def session_ids_for(example, suffixes):
    return [f"fz{example}-{number}{suffix}" for number, suffix in enumerate(suffixes)]


def into_sessions(items, sessions, rnd):
    """Objects without a session go to the example's sessions, so that what they leave
    behind is read back too."""
    for item in items:
        if isinstance(item, dict) and "session_id" not in item:
            item["session_id"] = rnd.choice(sessions)


def shuffled(items, rnd):
    items = list(items)
    rnd.shuffle(items)
    return items


# Ids end in text of any kind (never /explain or /export: those cannot be read by path),
# but U+0000, which no store keeps in a text field (an id with it is refused).
suffixes = st.lists(st.text(st.characters(exclude_characters="\x00"), max_size=6).filter(
    lambda s: not s.endswith(("/explain", "/export"))), min_size=1, max_size=3)
randoms = st.randoms(use_true_random=False)
FIRST = random.Random(0)  # for the explicit examples
VALID_LLM_CALL = {"event_type": "llm_call", "model": "gpt-4o", "tokens_in": 5}
DEEP_978 = nested(978, "array")  # issue 8, finding 2 (976-981 was a 500)


@settings(FUZZ, max_examples=50)
@given(valid=st.lists(agentlens_event(), max_size=4),
       junk=st.lists(near(agentlens_event(), AGENTLENS_FIELDS) | junk_values, max_size=4),
       suffixes=suffixes, ascii_only=st.booleans(), content_type=content_types, rnd=randoms)
@example(valid=[VALID_LLM_CALL], junk=[{"input_data": {"x": Raw("1e999")}}], suffixes=[""],
         ascii_only=True, content_type="application/json", rnd=FIRST)  # finding 3
@example(valid=[VALID_LLM_CALL], junk=[{"input_data": DEEP_978}], suffixes=[""],
         ascii_only=True, content_type="application/json", rnd=FIRST)  # finding 2
@example(valid=[VALID_LLM_CALL], junk=[{"output_data": Raw(r'"\udfff"')}], suffixes=[""],
         ascii_only=True, content_type="application/json", rnd=FIRST)
def test_events_batches(new_client, valid, junk, suffixes, ascii_only, content_type, rnd):
    client, example = new_client(), next(_examples)
    valid, junk = copy.deepcopy((valid, junk))  # explicit examples are used again
    sessions = session_ids_for(example, suffixes)
    for number, event in enumerate(valid):
        event.update(session_id=rnd.choice(sessions), event_id=f"v{example}-{number}")
    into_sessions(junk, sessions, rnd)
    body = {"events": shuffled(valid + junk, rnd)}
    status, answer = client.send("POST", "/events", dump(body, ascii_only), content_type)
    if valid and usable(body):
        assert status == 200, answer
    if status == 200:
        assert answer["processed"] >= len(valid)
        for event in valid:
            assert event["event_id"] in client.session_event_ids(event["session_id"]), event
    client.read_everything(sessions)


def stamp_amendments(amendments, valid):
    """``"@valid"`` stands for the id of the first valid event (when there is one)."""
    target = valid[0]["id"] if valid else "missing"
    for amendment in amendments:
        if isinstance(amendment, dict) and amendment.get("id") == "@valid":
            amendment["id"] = target


amendments = st.lists(st.one_of(
    near(agentops_event(), AGENTOPS_FIELDS).map(lambda amendment: {**amendment, "id": "@valid"}),
    near(agentops_event(), AGENTOPS_FIELDS), junk_values), max_size=3)
reauthorizations = st.one_of(
    st.fixed_dictionaries({"session_id": st.sampled_from(STRINGS) | names}), bad_values)


@settings(FUZZ, max_examples=30)
@given(session=st.fixed_dictionaries({}, optional={
           "tags": bad_values, "host_env": bad_values, "init_timestamp": bad_values}) | junk_values,
       valid=st.lists(agentops_event(), max_size=4),
       junk=st.lists(near(agentops_event(), AGENTOPS_FIELDS) | junk_values, max_size=3),
       amendments=amendments, reauthorize=reauthorizations,
       update=st.fixed_dictionaries({}, optional={
           "end_timestamp": bad_values, "end_state": bad_values, "tags": bad_values}) | junk_values,
       agent=st.fixed_dictionaries({}, optional={"id": junk_values, "name": junk_values})
       | junk_values,
       prefix=st.sampled_from(["/v2", ""]), content_type=content_types, rnd=randoms)
@example(session={"tags": DEEP_978}, valid=[], junk=[], amendments=[], reauthorize={},
         update={}, agent={}, prefix="/v2", content_type="application/json", rnd=FIRST)  # 1
@example(session={}, valid=[{"type": "tools", "name": "t"}], junk=[],
         amendments=[{"id": "@valid", "returns": {"v": Raw("1e999")}}], reauthorize={},
         update={}, agent={}, prefix="/v2", content_type="application/json", rnd=FIRST)  # 4
@example(session={}, valid=[{"type": "tools", "name": "t"}], junk=[], amendments=[
    {"id": "@valid", "returns": "r"}], reauthorize={"session_id": Raw(r'"\ud800x"')}, update={},
    agent={}, prefix="/v2", content_type="application/json", rnd=FIRST)  # 5
def test_agentops_session(new_client, session, valid, junk, amendments, reauthorize, update,
                          agent, prefix, content_type, rnd):
    client, example = new_client(), next(_examples)
    valid, amendments = copy.deepcopy((valid, amendments))  # explicit examples are used again
    session_id = f"fz{example}-agentops"
    # A session created from a junk body too, so that the rest has a token to use.
    for body in (session, {"session": {"session_id": session_id}}):
        if isinstance(body, dict):
            body = {**body, "session_id": session_id}
        status, answer = client.send("POST", f"{prefix}/create_session", dump(body), content_type)
    assert status == 200, answer
    bearer = {"Authorization": f"Bearer {answer['jwt']}"}

    for number, event in enumerate(valid):
        event["id"] = f"v{example}-{number}"
    items = shuffled(valid + junk, rnd)
    body = {"events": items}
    foreign = any(isinstance(item, dict) and item.get("session_id") is not None
                  and item.get("session_id") != session_id for item in items)
    status, answer = client.send("POST", f"{prefix}/create_events", dump(body), content_type,
                                 bearer)
    if foreign:
        assert status == 401, answer
    elif valid and usable(body):
        assert status == 200, answer
    if status == 200:
        stored = client.session_event_ids(session_id)
        for event in valid:
            assert event["id"] in stored, event

    stamp_amendments(amendments, valid)
    for path, body in (("update_events", {"events": amendments}), ("update_session", update),
                       ("create_agent", agent)):
        client.send("POST", f"{prefix}/{path}", dump(body), content_type, bearer)
    status, answer = client.send("POST", f"{prefix}/reauthorize_jwt", dump(reauthorize),
                                 content_type)
    if status == 200:  # the new token works as well as the first
        client.send("POST", f"{prefix}/update_events", dump({"events": amendments}), content_type,
                    {"Authorization": f"Bearer {answer['jwt']}"})
    client.read_everything([session_id])


@settings(FUZZ, max_examples=30)
@given(session=st.fixed_dictionaries({}, optional={
           "client_config": bad_values, "connection_type": bad_values, "ip": bad_values,
           "tools": bad_values, "user_data": bad_values}) | junk_values,
       valid=st.lists(agnost_event(), max_size=3),
       junk=st.lists(near(agnost_event(), AGNOST_FIELDS) | junk_values, max_size=3),
       suffixes=suffixes, content_type=content_types, rnd=randoms)
@example(session={}, valid=[{"primitive_name": "turn", "args": "NaN"}], junk=[],
         suffixes=[""], content_type="application/json", rnd=FIRST)  # finding 3
def test_agnost_conversation(new_client, session, valid, junk, suffixes, content_type, rnd):
    client, example = new_client(), next(_examples)
    valid, junk = copy.deepcopy((valid, junk))  # explicit examples are used again
    sessions = session_ids_for(example, suffixes)
    if isinstance(session, dict):
        session = {**session, "session_id": sessions[0]}
    client.send("POST", "/api/v1/capture-session", dump(session), content_type)
    for number, event in enumerate(valid):
        event.update(session_id=rnd.choice(sessions), event_id=f"v{example}-{number}")
    into_sessions(junk, sessions, rnd)
    for body in shuffled(valid + junk, rnd):
        status, answer = client.send("POST", "/api/v1/capture-event", dump(body), content_type)
        if any(body is event for event in valid):
            assert status == 200, (body, answer)
            assert answer == {"success": True, "event_id": body["event_id"]}
    for event in valid:
        assert event["event_id"] in client.session_event_ids(event["session_id"]), event
    client.read_everything(sessions)
