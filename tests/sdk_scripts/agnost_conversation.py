"""The agnost conversation SDK (agnost 0.1.13) against a real AgentLens server.

    python agnost_conversation.py BASE_URL ORG_ID CONVERSATION_ID OTHER_CONVERSATION_ID

Conversation 1 (user "user_1", identified): agent turns (track, begin/end, a failed
one, one whose text looks like JSON), tool calls (one failing) through the client's
track_ai (the only way to set primitive_type), a resource and a failing prompt.
Conversation 2 (user "user_2"): a single tool call, so only client_config names it.
Prints RESULT with the event ids the SDK returned.
"""
import netguard

netguard.install()

import sys  # noqa: E402
import time  # noqa: E402

import agnost  # noqa: E402
from result import emit  # noqa: E402

url, org, conversation, other = sys.argv[1:5]
assert agnost.init(org, endpoint=url + "/", debug=False)  # the SDK strips the "/"
client = agnost.client._client

agnost.identify("user_1", {"name": "Ada", "email": "ada@example.com", "plan": "pro"})
ids = {}
ids["turn"] = agnost.track(
    user_id="user_1", input="What's the weather in Paris?", output="Sunny, 21C.",
    agent_name="weather-agent", conversation_id=conversation,
    properties={"model": "gpt-4o", "tokens_in": 42}, latency=1500)
ids["tool"] = client.track_ai(
    user_id="user_1", event="tool", input={"city": "Paris", "units": "metric"},
    output={"temp": 21, "sky": "clear"}, agent_name="get_weather",
    conversation_id=conversation, properties={"parent_id": ids["turn"]}, latency=120)
ids["failed_tool"] = client.track_ai(
    user_id="user_1", event="tool", input={"q": "paris"}, output="geocoder unavailable",
    agent_name="geocode", conversation_id=conversation,
    properties={"parent_id": ids["tool"]}, success=False, latency=7)
ids["resource"] = client.track_ai(
    user_id="user_1", event="resource", input="file://notes.txt", output="line 1\nline 2",
    agent_name="notes", conversation_id=conversation, latency=3)
ids["failed_prompt"] = client.track_ai(
    user_id="user_1", event="prompt", input={"topic": "rain"}, output=None,
    agent_name="summarise", conversation_id=conversation, success=False, latency=4)
# Text that happens to be JSON: the SDK encodes it once more; it must come back as this text.
ids["json_text_turn"] = agnost.track(
    user_id="user_1", input='{"city": "Oslo"}', output="[1, 2]",
    agent_name="weather-agent", conversation_id=conversation, latency=10)
interaction = agnost.begin(user_id="user_1", agent_name="weather-agent", input="And tomorrow?",
                           conversation_id=conversation, properties={"step": 2})
interaction.set_property("channel", "web")
time.sleep(0.06)
interaction.end(output="Rain.")  # latency measured by the SDK
ids["failed_turn"] = agnost.track(
    user_id="user_1", input="Book me a flight", output="I can't do that.",
    agent_name="weather-agent", conversation_id=conversation, success=False, latency=900)

ids["other_tool"] = client.track_ai(
    user_id="user_2", event="tool", input={"x": 21}, output=42, agent_name="double",
    conversation_id=other, latency=2)

agnost.shutdown()  # flush and join the sender thread: everything has been answered
emit(ids=ids)
