"""A small OpenAI-compatible server, the only thing mocked in the OTLP end-to-end tests:
the real ``openai`` client and the real instrumentations talk to it over HTTP.

``POST /v1/chat/completions`` answers a first turn with a ``get_weather`` tool call and,
once the conversation holds the tool's answer, with text. The figures the tests expect
are the constants below.

    with FakeOpenAI() as llm:
        client = openai.OpenAI(base_url=llm.url, api_key="sk-test")
"""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL = "gpt-4o-mini-2024-07-18"
TOOL_CALL = {"id": "call_w1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'}}
FIRST_USAGE = {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49,
               "prompt_tokens_details": {"cached_tokens": 10},
               "completion_tokens_details": {"reasoning_tokens": 3}}
ANSWER = "It is sunny in Rome, 25 °C."
SECOND_USAGE = {"prompt_tokens": 60, "completion_tokens": 8, "total_tokens": 68}


def completion(messages):
    if any(message.get("role") == "tool" for message in messages):
        message, finish, usage = {"role": "assistant", "content": ANSWER}, "stop", SECOND_USAGE
    else:
        message = {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]}
        finish, usage = "tool_calls", FIRST_USAGE
    return {"id": "chatcmpl-fake", "object": "chat.completion", "created": 1714910000,
            "model": MODEL, "usage": usage,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}]}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path != "/v1/chat/completions":
            self.send_error(404)
            return
        body = json.dumps(completion(request["messages"])).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class FakeOpenAI:
    def __enter__(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
