"""agentops 0.3.26 sessions against a real AgentLens server (one scenario per process:
the agentops Client is a process-wide singleton that also installs signal handlers).

    python agentops_session.py BASE_URL API_KEY SCENARIO [--allow-update-check]

success       create_agent("writer"); 3 LLMEvents on 2 models with tokens and set
              timestamps (one with the cost the client knows); a ToolEvent and a
              @record_tool call; an ActionEvent; an ErrorEvent from an exception;
              add_tags; end_session("Success")
fail          create_agent("reviewer"); 1 LLMEvent; an ErrorEvent; end_session("Fail")
two_sessions  two sessions open at once (two JWTs), ended Indeterminate and Success
wrong_key     init() with a key the server refuses; the session must not start (with
              --allow-update-check, agentops' PyPI check runs: the guard must see it)
Prints RESULT with the session id, the agent id and the ids of the events.
"""
import netguard

netguard.install()

import sys  # noqa: E402
import time  # noqa: E402
from datetime import datetime, timedelta, timezone  # noqa: E402

import agentops  # noqa: E402
from agentops import ActionEvent, ErrorEvent, LLMEvent, ToolEvent  # noqa: E402
from result import emit  # noqa: E402

url, api_key, scenario = sys.argv[1:4]
ALLOW_UPDATE_CHECK = "--allow-update-check" in sys.argv[4:]  # to show that the guard works
if not ALLOW_UPDATE_CHECK:
    # Else init() starts a thread that asks PyPI for the newest agentops.
    agentops.check_agentops_update = lambda: None

TAGS = {"success": ["sdk-e2e", "nightly"], "fail": ["sdk-e2e", "retry"], "wrong_key": ["nope"]}
AGENT_IDS = {"success": "7d4a7c1e-0000-4000-8000-000000000001",
             "fail": "7d4a7c1e-0000-4000-8000-000000000002"}

if scenario == "two_sessions":
    # Two sessions at once: each has its own JWT, and events go through session.record().
    agentops.init(api_key=api_key, endpoint=url, auto_start_session=False, max_wait_time=200,
                  instrument_llm_calls=False)
    first = agentops.start_session(tags=["first"])
    second = agentops.start_session(tags=["second"])
    first.record(LLMEvent(model="gpt-4o-mini", prompt="a", completion="b",
                          prompt_tokens=1, completion_tokens=2))
    second.record(LLMEvent(model="claude-3-haiku", prompt="c", completion="d",
                           prompt_tokens=3, completion_tokens=4))
    second.record(ToolEvent(name="lookup", params={"id": 7}, returns={"found": True}))
    first.create_agent("agent-one", "aaaaaaaa-0000-4000-8000-000000000001")
    second.create_agent("agent-two", "aaaaaaaa-0000-4000-8000-000000000002")
    first.end_session("Indeterminate")
    second.end_session("Success")
    emit(first=str(first.session_id), second=str(second.session_id))
    sys.exit(0)

session = agentops.init(api_key=api_key, endpoint=url, default_tags=TAGS[scenario],
                        max_wait_time=200, instrument_llm_calls=False)
if scenario == "wrong_key":
    # Whatever the SDK does without a session must not reach the server either.
    agentops.record(LLMEvent(model="gpt-4o-mini", prompt="x", completion="y",
                             prompt_tokens=1, completion_tokens=1))
    agentops.end_session("Success")
    deadline = time.monotonic() + 5
    while ALLOW_UPDATE_CHECK and not netguard.attempts and time.monotonic() < deadline:
        time.sleep(0.05)
    emit(session_started=session is not None)
    sys.exit(0)
assert session is not None, "create_session failed"

# Whole milliseconds, so that end - init is exact on the server.
now = datetime.now(timezone.utc)
t0 = now.replace(microsecond=now.microsecond // 1000 * 1000)


def at(ms):
    return (t0 + timedelta(milliseconds=ms)).isoformat()


def wait_until(ms):
    left = (t0 + timedelta(milliseconds=ms) - datetime.now(timezone.utc)).total_seconds()
    if left > 0:
        time.sleep(left)


if scenario == "success":
    agent_id = agentops.create_agent("writer", agent_id=AGENT_IDS[scenario])

    @agentops.record_tool("search_web")
    def search_web(query, limit=3):
        return ["r1", "r2"]

    events = {
        "llm_mini_1": LLMEvent(
            prompt=[{"role": "user", "content": "Write a haiku"}],
            completion={"role": "assistant", "content": "Autumn moon rises"},
            model="gpt-4o-mini", prompt_tokens=12, completion_tokens=5,
            init_timestamp=at(0), end_timestamp=at(125), agent_id=agent_id),
        "llm_claude": LLMEvent(
            prompt="Summarise: the cat sat on the mat", completion="A cat sat.",
            model="claude-3-haiku", prompt_tokens=30, completion_tokens=7, cost=0.0001,
            init_timestamp=at(130), end_timestamp=at(170)),
        "llm_mini_2": LLMEvent(
            prompt="again", completion="ok", model="gpt-4o-mini",
            prompt_tokens=8, completion_tokens=2, init_timestamp=at(180), end_timestamp=at(190)),
        "calculator": ToolEvent(name="calculator", params={"a": 1, "b": 2}, returns="3",
                                init_timestamp=at(200), end_timestamp=at(205)),
        "click": ActionEvent(action_type="click", params={"x": 1}, returns="done",
                             logs="clicked", init_timestamp=at(210), end_timestamp=at(213)),
    }
    for event in events.values():
        agentops.record(event)
    search_web("news")
    try:
        1 / 0
    except ZeroDivisionError as error:
        events["division"] = ErrorEvent(trigger_event=events["calculator"], exception=error,
                                        code="E500")
        agentops.record(events["division"])
    agentops.add_tags(["extra-tag"])  # an update_session that carries only the JWT
    wait_until(250)  # every timestamp given above is now in the past: the session ends last
    agentops.end_session("Success", end_state_reason="all good")
elif scenario == "fail":
    agent_id = agentops.create_agent("reviewer", agent_id=AGENT_IDS[scenario])
    events = {
        "llm": LLMEvent(prompt="Review this PR", completion="Looks risky", model="gpt-4o-mini",
                        prompt_tokens=100, completion_tokens=50,
                        init_timestamp=at(0), end_timestamp=at(200), agent_id=agent_id),
        "timeout": ErrorEvent(error_type="Timeout", details="took too long", code="408"),
    }
    for event in events.values():
        agentops.record(event)
    wait_until(220)
    agentops.end_session("Fail", end_state_reason="timed out")
else:
    raise SystemExit(f"unknown scenario {scenario}")

ids = {name: str(event.id) for name, event in events.items()}
emit(session_started=True, session_id=str(session.session_id), agent_id=agent_id, ids=ids,
     t0=t0.isoformat(), end_state=session.end_state)
