"""agnost-mcp 0.2.0 tracking a FastMCP server (mcp 1.x) against a real AgentLens server.

    python agnost_mcp_server.py BASE_URL ORG_ID

Three tools: get_weather (returns a dict), explode (raises), add (structured int).
One in-memory MCP client session calls get_weather twice, explode once, add once.
Prints RESULT with what the MCP client saw (isError and text per call).
"""
import netguard

netguard.install()

import asyncio  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402

import agnost_mcp  # noqa: E402
import mcp.types as types  # noqa: E402
from mcp.server.fastmcp import FastMCP  # noqa: E402
from mcp.shared.memory import create_connected_server_and_client_session  # noqa: E402
from result import emit  # noqa: E402

logging.getLogger("mcp").setLevel(logging.WARNING)
url, org = sys.argv[1:3]
server = FastMCP("weather-server")


@server.tool()
def get_weather(city: str, units: str = "celsius") -> dict:
    """Weather for a city."""
    return {"city": city, "temp": 21, "units": units}


@server.tool()
def explode(reason: str) -> str:
    """Always fails."""
    raise ValueError(f"boom: {reason}")


@server.tool()
def add(a: int, b: int) -> int:
    """a + b"""
    return a + b


agnost_mcp.track(server, org, agnost_mcp.config(
    endpoint=url,
    identify=lambda request, env: {"userId": "user-42", "email": "u42@example.com",
                                   "role": "admin"},
    log_level="WARNING",
))

CALLS = [("get_weather", {"city": "Paris"}), ("explode", {"reason": "test"}),
         ("get_weather", {"city": "Oslo", "units": "kelvin"}), ("add", {"a": 3, "b": 4})]


async def main():
    seen = []
    client_info = types.Implementation(name="sdk-e2e-client", version="1.0.0")
    async with create_connected_server_and_client_session(server, client_info=client_info) as c:
        await c.list_tools()
        for name, arguments in CALLS:
            response = await c.call_tool(name, arguments)
            seen.append({"tool": name, "is_error": response.isError,
                         "text": response.content[0].text if response.content else None})
    return seen


calls = asyncio.run(main())
drained = agnost_mcp._client.shutdown()  # True once every queued delivery was answered
emit(calls=calls, drained=drained)
