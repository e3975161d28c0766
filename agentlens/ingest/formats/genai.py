"""The GenAI attributes of a span -> the fields of a normalised event (see the README's table).

Families: the OpenTelemetry GenAI semantic conventions (also their older names,
``gen_ai.usage.prompt_tokens`` and ``gen_ai.prompt.N.*``), OpenInference,
OpenLLMetry (traceloop), AgentOps 0.4, the Vercel AI SDK and MLflow. Each function takes what it maps out
of the span's attribute dict, so that what is left is kept on the event's
metadata: an attribute is mapped or kept, never both, never lost. A value of the
wrong type is not mapped, and so it is kept.
"""
from ...pricing.tokens import PARTS
from .shared import MAX_TOKENS, decode

LLM, TOOL, AGENT = "llm_call", "tool_call", "agent_call"
# The attribute that tells a span's kind, by family, in the order they are tried.
KINDS = (
    ("gen_ai.operation.name", {
        "chat": LLM, "text_completion": LLM, "generate_content": LLM, "execute_tool": TOOL,
        "invoke_agent": AGENT, "create_agent": AGENT, "embeddings": "embeddings",
        "retrieval": "retrieval", "invoke_workflow": "workflow"}),
    ("openinference.span.kind", {
        "llm": LLM, "tool": TOOL, "agent": AGENT, "chain": "chain", "retriever": "retrieval",
        "embedding": "embeddings", "reranker": "reranker", "guardrail": "guardrail",
        "evaluator": "evaluator", "prompt": "prompt"}),
    ("traceloop.span.kind", {"workflow": "workflow", "task": "task", "agent": AGENT, "tool": TOOL}),
    # OpenLLMetry's LLM spans carry no span kind, only the request type.
    ("llm.request.type", {"chat": LLM, "completion": LLM, "embedding": "embeddings",
                          "rerank": "reranker"}),
    ("agentops.span.kind", {
        "session": "session", "agent": AGENT, "task": "task", "operation": "task",
        "workflow": "workflow", "tool": TOOL, "llm": LLM, "chain": "chain",
        "guardrail": "guardrail"}),
    # The Vercel AI SDK's: a call (generateText...) is a workflow of model calls and tools.
    ("ai.operationId", {
        **dict.fromkeys(("ai.generatetext.dogenerate", "ai.streamtext.dostream",
                         "ai.generateobject.dogenerate", "ai.streamobject.dostream"), LLM),
        "ai.toolcall": TOOL,
        **dict.fromkeys(("ai.embed.doembed", "ai.embedmany.doembed"), "embeddings"),
        **dict.fromkeys(("ai.generatetext", "ai.streamtext", "ai.generateobject",
                         "ai.streamobject", "ai.embed", "ai.embedmany"), "workflow")}),
    # MLflow's span types (JSON texts on the wire: see mlflow_attributes).
    ("mlflow.spanType", {
        "chat_model": LLM, "llm": LLM, "tool": TOOL, "agent": AGENT, "chain": "chain",
        "retriever": "retrieval", "embedding": "embeddings", "reranker": "reranker",
        "parser": "parser", "memory": "memory", "workflow": "workflow", "task": "task"}),
)
# Kinds of spans that contain others: a model or usage they carry describes their calls.
AGGREGATES = frozenset((AGENT, "session", "workflow", "task", "chain"))
AGENT_OPERATIONS = tuple(name for name, kind in KINDS[0][1].items() if kind == AGENT)
MODEL_KEYS = ("gen_ai.response.model", "gen_ai.request.model", "llm.model_name",
              "embedding.model_name", "ai.response.model", "ai.model.id", "mlflow.llm.model")
PROVIDER_KEYS = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system",
                 "ai.model.provider")
# The Vercel AI SDK's ai.usage.* after the others: its v4 names, then v5's and later;
# then MLflow's token usage, one attribute a count once read (mlflow_attributes).
MLFLOW_USAGE = "mlflow.chat.tokenUsage"
MLFLOW_TEXTS = ("mlflow.spanType", "mlflow.llm.model")  # JSON texts of strings
RAW_USAGE = "gen_ai.usage.raw"  # Pydantic Logfire's: the provider's usage object, whole
TOKEN_KEYS = {
    "tokens_in": ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens",
                  "llm.token_count.prompt", "ai.usage.promptTokens", "ai.usage.inputTokens",
                  "ai.usage.tokens",  # an embedding's
                  f"{MLFLOW_USAGE}.input_tokens"),
    "tokens_out": ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens",
                   "llm.token_count.completion", "ai.usage.completionTokens",
                   "ai.usage.outputTokens", f"{MLFLOW_USAGE}.output_tokens"),
    "cache_read_tokens": ("gen_ai.usage.cache_read.input_tokens",
                          "gen_ai.usage.cache_read_input_tokens",
                          "llm.token_count.prompt_details.cache_read",
                          "ai.usage.cachedInputTokens", "ai.usage.inputTokenDetails.cacheReadTokens",
                          f"{MLFLOW_USAGE}.cache_read_input_tokens"),
    # cache_write: the Anthropic SDKs' own instrumentation's spelling
    "cache_write_tokens": ("gen_ai.usage.cache_creation.input_tokens",
                           "gen_ai.usage.cache_creation_input_tokens",
                           "gen_ai.usage.cache_write.input_tokens",
                           "llm.token_count.prompt_details.cache_write",
                           "ai.usage.inputTokenDetails.cacheWriteTokens",
                           f"{MLFLOW_USAGE}.cache_creation_input_tokens"),
    "reasoning_tokens": ("gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.reasoning_tokens",
                         "llm.token_count.completion_details.reasoning",
                         "gen_ai.usage.details.reasoning_tokens",  # pydantic-ai's only one
                         "ai.usage.reasoningTokens", "ai.usage.outputTokenDetails.reasoningTokens"),
}
ALL_TOKEN_KEYS = frozenset(key for keys in TOKEN_KEYS.values() for key in keys)
# Each token key's bucket, and its order: buckets in TOKEN_KEYS order, then the key's
# place among its bucket's keys (the first that counts wins).
TOKEN_BUCKET = {key: field for field, keys in TOKEN_KEYS.items() for key in keys}
TOKEN_ORDER = {key: order for order, key in enumerate(
    key for keys in TOKEN_KEYS.values() for key in keys)}
WHOLES = frozenset(PARTS)
# What a decorated function (traceloop's and AgentOps' @tool, @task, ...) was called
# with and returned, and its name.
AGENTOPS_KINDS = ("entity", "tool", "task", "agent", "workflow", "session", "operation", "llm")
ENTITY_INPUTS = ("traceloop.entity.input",
                 *(f"agentops.{kind}.input" for kind in AGENTOPS_KINDS), "ai.prompt",
                 "mlflow.spanInputs")
ENTITY_OUTPUTS = ("traceloop.entity.output",
                  *(f"agentops.{kind}.output" for kind in AGENTOPS_KINDS), "ai.response.text",
                  "ai.response.object", "mlflow.spanOutputs")
ENTITY_NAMES = ("traceloop.entity.name", "operation.name")
TOOL_NAMES = ("gen_ai.tool.name", "tool.name", "ai.toolCall.name", *ENTITY_NAMES)
TOOL_CALL_IDS = ("gen_ai.tool.call.id", "tool_call.id", "ai.toolCall.id")
# pydantic-ai's instrumentation before version 3 names them tool_arguments and
# tool_response; the Vercel AI SDK ai.toolCall.args and .result; the Anthropic SDKs'
# own instrumentation the result anthropic.tool_result.content.
TOOL_ARGUMENTS = ("gen_ai.tool.call.arguments", "tool_arguments", "ai.toolCall.args")
TOOL_RESULTS = ("gen_ai.tool.call.result", "tool_response", "ai.toolCall.result",
                "anthropic.tool_result.content")
AGENT_NAMES = ("agent.name", *ENTITY_NAMES)
# Flattened message lists: prefix, and path segments that only wrap what follows an
# index (OpenInference's ``llm.input_messages.0.message.role``).
INPUT_MESSAGES = (("gen_ai.prompt.", ()),
                  ("llm.input_messages.", ("message", "tool_call", "message_content")))
OUTPUT_MESSAGES = (("gen_ai.completion.", ()),
                   ("llm.output_messages.", ("message", "tool_call", "message_content")))
MAX_PATH = 32  # segments of a flattened key; a deeper one is kept as it is
# One span event a message (the GenAI conventions before 1.37): input messages by role,
# and the choices made.
MESSAGE_EVENTS = {f"gen_ai.{role}.message": role for role in ("system", "user", "assistant",
                                                              "tool")}
CHOICE_EVENT = "gen_ai.choice"
MESSAGE_JSON = frozenset(("content", "message", "tool_calls"))


def mlflow_attributes(attrs):
    """MLflow writes each of its attributes as JSON text, its strings too
    (``"\"CHAT_MODEL\""``): those mapped here are read as what they encode, and its
    token usage (an object) as one ``mlflow.chat.tokenUsage.<name>`` attribute a count."""
    for key in MLFLOW_TEXTS:
        value = attrs.get(key)
        if isinstance(value, str) and isinstance(text := decode(value), str):
            attrs[key] = text
    usage = attrs.get(MLFLOW_USAGE)
    if isinstance(usage, str) and isinstance(counts := decode(usage), dict):
        del attrs[MLFLOW_USAGE]
        for name, value in counts.items():
            attrs[f"{MLFLOW_USAGE}.{name}"] = value


def event_type(attrs):
    for key, kinds in KINDS:
        value = attrs.get(key)
        if isinstance(value, str) and value.lower() in kinds:
            del attrs[key]
            return kinds[value.lower()]
    return "span"


def take_text(attrs, keys):
    """The first of keys whose value is a non-empty string, taken out; None if none."""
    if attrs.keys().isdisjoint(keys):  # most spans carry none of them: one look in C
        return None
    for key in keys:
        value = attrs.get(key)
        if isinstance(value, str) and value:
            return attrs.pop(key)
    return None


def take_value(attrs, keys):
    if attrs.keys().isdisjoint(keys):
        return None
    for key in keys:
        if attrs.get(key) is not None:
            return attrs.pop(key)
    return None


def model(attrs):
    return take_text(attrs, MODEL_KEYS)


def provider(attrs):
    return take_text(attrs, PROVIDER_KEYS)


def count(value):
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if type(value) is int and 0 <= value <= MAX_TOKENS:
        return value
    return None


def tokens(attrs):
    """The token buckets a span carries. The conventions count cached input inside
    ``input_tokens`` and reasoning inside ``output_tokens``; some instrumentations
    report them beside (Anthropic's API does for the cache, Gemini's for thoughts):
    when the parts do not fit in their whole, they are added to it, so that the
    span is stored with every token rather than refused."""
    found = {}
    present = attrs.keys() & ALL_TOKEN_KEYS  # most spans carry two keys, or none
    for key in sorted(present, key=TOKEN_ORDER.__getitem__):
        field = TOKEN_BUCKET[key]
        if field not in found:
            value = count(attrs[key])
            if value is not None:
                found[field] = value
                del attrs[key]
    if "reasoning_tokens" not in found and RAW_USAGE in attrs:
        reasoning = raw_reasoning(attrs[RAW_USAGE])
        if reasoning is not None:
            found["reasoning_tokens"] = reasoning
    if found.keys() <= WHOLES:  # no part to fit in its whole
        return found
    for whole, parts in PARTS.items():
        beside = sum(found.get(part, 0) for part in parts)
        if beside > found.get(whole, 0):
            found[whole] = found.get(whole, 0) + beside
    return found


def raw_reasoning(raw):
    """The reasoning tokens in a provider's usage object as the API answered it (OpenAI's
    chat ``completion_tokens_details``, its Responses API's ``output_tokens_details``),
    which Pydantic Logfire keeps whole in ``gen_ai.usage.raw`` (JSON text): its only
    report of them. The attribute stays, for what else it says."""
    usage = decode(raw)
    if not isinstance(usage, dict):
        return None
    for key in ("completion_tokens_details", "output_tokens_details"):
        details = usage.get(key)
        if isinstance(details, dict) and (value := count(details.get("reasoning_tokens"))):
            return value
    return None


def entity_name(span_name, kind):
    """AgentOps names spans ``<name>.<kind>``."""
    suffix = "." + kind
    return (span_name[:-len(suffix)] if span_name.endswith(suffix) else span_name) or None


def agent_of_span_name(span_name):
    """The agent an agent span's name names: the GenAI conventions' ``invoke_agent
    writer``, AgentOps' ``writer.agent``; None for an operation's name alone."""
    operation, _, agent = span_name.partition(" ")
    if operation in AGENT_OPERATIONS:
        return agent.strip() or None
    return entity_name(span_name, "agent")


def value_of(attrs, prefix, json_unless_said=False):
    """OpenInference's ``input.value``/``output.value``: JSON when its mime type says
    so, or with ``json_unless_said`` when it says nothing and the text parses (a
    tool's arguments and result)."""
    value = attrs.get(f"{prefix}.value")
    if value is None:
        return None
    del attrs[f"{prefix}.value"]
    mime_type = attrs.get(f"{prefix}.mime_type")
    if mime_type == "application/json":
        del attrs[f"{prefix}.mime_type"]
        return decode(value)
    return decode(value) if json_unless_said and mime_type is None else value


def tool_call(attrs, events, span_name, error):
    """``{name, input, output}`` (as every format), with ``call_id``, and when it failed
    ``success: false`` and ``error``. Strands' tool spans carry the arguments and the
    result as message events (see event_messages): the tool message's content and
    the choice's message."""
    call = {"name": take_text(attrs, TOOL_NAMES) or entity_name(span_name, "tool"),
            "input": tool_side(attrs, TOOL_ARGUMENTS, "input", ENTITY_INPUTS),
            "output": tool_side(attrs, TOOL_RESULTS, "output", ENTITY_OUTPUTS)}
    for side, event_name, key in (("input", "gen_ai.tool.message", "content"),
                                  ("output", CHOICE_EVENT, "message")):
        if call[side] is None:
            call[side] = take_json({}, events, key, event_name)
    call_id = take_text(attrs, TOOL_CALL_IDS)
    if call_id is not None:
        call["call_id"] = call_id
    if error is not None:
        call.update(success=False, error=error[0])
        if error[1] is not None:
            call["error_type"] = error[1]
    return call


def tool_side(attrs, keys, prefix, entity_keys):
    """A tool's arguments or result: GenAI's, else OpenInference's, else the decorator's."""
    value = take_value(attrs, keys)
    if value is not None:
        return decode(value)
    value = value_of(attrs, prefix, json_unless_said=True)
    return decode(take_value(attrs, entity_keys)) if value is None else value


def input_data(attrs, events):
    parts = {}
    messages = messages_of(attrs, events, "gen_ai.input.messages", INPUT_MESSAGES,
                           ("gen_ai.prompt", "ai.prompt.messages"), MESSAGE_EVENTS)
    if messages is not None:
        parts["messages"] = messages
    system = take_json(attrs, events, "gen_ai.system_instructions")
    if system is not None:
        parts["system_instructions"] = system
    value = value_of(attrs, "input")
    if value is None:
        value = decode(take_value(attrs, ENTITY_INPUTS))
    if value is not None:
        parts["input"] = value
    return parts or None


def output_data(attrs, events, error):
    parts = {}
    messages = messages_of(attrs, events, "gen_ai.output.messages", OUTPUT_MESSAGES,
                           ("gen_ai.completion",), {CHOICE_EVENT: None})
    if messages is not None:
        parts["messages"] = messages
    value = value_of(attrs, "output")
    if value is None:
        value = decode(take_value(attrs, ENTITY_OUTPUTS))
    if value is not None:
        parts["output"] = value
    if error is not None:
        parts["error"] = error[0]
        if error[1] is not None:
            parts["error_type"] = error[1]
    return parts or None


def messages_of(attrs, events, key, flattened, wholes, roles):
    """The messages under ``key``, else flattened, else as the conventions before 1.28
    and OpenLIT give them: the whole prompt or completion (the first of ``wholes``;
    the Vercel AI SDK's ``ai.prompt.messages`` too), JSON text, on a span event
    (``gen_ai.content.prompt``/``.completion``) or on the span; else one span event a
    message (``roles``: see event_messages)."""
    messages = take_json(attrs, events, key)
    for prefix, wrappers in flattened:
        if messages is not None:
            break
        messages = unflatten(attrs, prefix, wrappers)
    for whole in wholes:
        if messages is not None:
            break
        messages = take_json(attrs, events, whole)
    if messages is None:
        messages = event_messages(events, roles) or None
    return messages


def event_messages(events, roles):
    """The GenAI conventions' message events before 1.37, one span event a message
    (Strands sends them): those named in ``roles`` (event name -> the message's role,
    None for a choice), each as ``{role, content...}`` with its content, message and tool
    calls (JSON texts) decoded, in order, taken out of the events."""
    messages = []
    for event in events:
        if event.get("name") in roles:
            role = roles[event["name"]]
            attributes = {key: decode(value) if key in MESSAGE_JSON else value
                          for key, value in event.get("attributes", {}).items()}
            messages.append({"role": role, **attributes} if role else attributes)
            event.clear()
    return messages


def take_json(attrs, events, key, event_name=None):
    """An attribute of the span, else of its first span event that has it (the GenAI
    conventions allow both; only an event called ``event_name`` if given); JSON text
    decoded. An event left with no attributes is emptied, so the metadata does not
    keep it."""
    if attrs.get(key) is not None:
        return decode(attrs.pop(key))
    for event in events:
        event_attrs = event.get("attributes", {})
        if event_attrs.get(key) is not None and event_name in (None, event.get("name")):
            value = event_attrs.pop(key)
            if not event_attrs:
                event.clear()
            return decode(value)
    return None


def unflatten(attrs, prefix, wrappers=()):
    """Attributes ``<prefix><N>.<path>`` -> the list of the N-th objects in N order,
    taken out of attrs; None if there are none. A key that does not fit (no index,
    too deep, or a value where an object is needed) is left as it is."""
    tree = {}
    for key in [key for key in attrs if key.startswith(prefix)]:
        path = key[len(prefix):].split(".")
        if len(path) > MAX_PATH or not is_index(path[0]):
            continue
        segments = [int(path[0])]
        for before, part in zip(path, path[1:]):
            if not (part in wrappers and is_index(before)):
                segments.append(int(part) if is_index(part) else part)
        node = tree
        for segment in segments[:-1]:
            node = node.setdefault(segment, {})
            if not isinstance(node, dict):
                break
        else:
            if segments[-1] not in node:
                node[segments[-1]] = attrs.pop(key)
    return listed(tree) if tree else None


def is_index(segment):
    return segment.isascii() and segment.isdigit()


def listed(node):
    """Objects whose keys are all indexes become lists, in index order."""
    if not isinstance(node, dict):
        return node
    if all(isinstance(key, int) for key in node):
        return [listed(node[key]) for key in sorted(node)]
    return {str(key): listed(value) for key, value in node.items()}
