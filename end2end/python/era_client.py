"""The official Python MCP SDK's `Client` in one era mode against an MCP server (directly,
or through Clavis's gateway): the client half of the era matrix.

    python era_client.py URL CLIENT_ID SECRET MODE

MODE is the SDK's own: `auto` (server/discover, falling back to initialize), `legacy`
(initialize) or `2026-07-28` (pinned, no probe). CLIENT_ID `-` means no authentication
(a direct run against an upstream server); otherwise the SDK gets a token with the
client-credentials grant from the URL's origin, as mcp_sdk_check.py does.

Lists the tools and calls echo, count (progress and log collected), ask (elicitation,
answered "yes") and sample (sampling, answered "hello"). Prints one JSON line:
{"version", "tools", "echo", "count", "progress", "logs", "ask", "sample"} — or, where no
echo is listed (Clavis's own /mcp), {"version", "tools", "whoami"}; exits 1 with the error
on stderr on any failure or after 30 s.
"""

import json
import sys
from urllib.parse import urlsplit

import anyio
import httpx2
from mcp import Client
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CreateMessageResult, ElicitResult, TextContent

from token_storage import MemoryStorage

TIMEOUT_SECONDS = 30
# The requests made, "METHOD path status" (status "..." while waiting): printed on failure.
REQUESTS: list[str] = []


def text(result) -> str:
    if result.is_error:
        raise RuntimeError(f"tool error: {result.content}")
    return "".join(c.text for c in result.content if c.type == "text")


async def main(url: str, client_id: str, secret: str, mode: str) -> dict:
    auth = None
    if client_id != "-":
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
        auth = ClientCredentialsOAuthProvider(
            server_url=url, storage=MemoryStorage(), client_id=client_id, client_secret=secret, issuer=origin
        )
    progress: list[float] = []
    logs: list[str] = []

    async def on_progress(value, total, message):
        progress.append(value)

    async def on_log(params):
        logs.append(params.data)

    async def on_elicit(context, params):
        return ElicitResult(action="accept", content={"answer": "yes"})

    async def on_sample(context, params):
        return CreateMessageResult(role="assistant", content=TextContent(type="text", text="hello"), model="test")

    async def sent(request):
        REQUESTS.append(f"{request.method} {request.url.path} ...")

    async def answered(response):
        REQUESTS.append(f"{response.request.method} {response.request.url.path} {response.status_code}")

    hooks = {"request": [sent], "response": [answered]}
    async with httpx2.AsyncClient(auth=auth, timeout=TIMEOUT_SECONDS, event_hooks=hooks) as http:
        async with Client(
            streamable_http_client(url, http_client=http),
            mode=mode,
            log_level="info",  # the 2026-07-28 opt-in to log messages; handshake-era servers send them anyway
            logging_callback=on_log,
            elicitation_callback=on_elicit,
            sampling_callback=on_sample,
        ) as client:
            tools = await client.list_tools()
            if "echo" not in (tool.name for tool in tools.tools):  # Clavis's own /mcp
                return {
                    "version": client.protocol_version,
                    "tools": sorted(tool.name for tool in tools.tools),
                    "whoami": text(await client.call_tool("whoami", {})),
                }
            return {
                "version": client.protocol_version,
                "tools": sorted(tool.name for tool in tools.tools),
                "echo": text(await client.call_tool("echo", {"text": "hi"})),
                "count": text(await client.call_tool("count", {"n": 3}, progress_callback=on_progress)),
                "progress": len(progress),
                "logs": logs,
                "ask": text(await client.call_tool("ask", {})),
                "sample": text(await client.call_tool("sample", {})),
            }


async def run(args: list[str]) -> dict:
    try:
        with anyio.fail_after(TIMEOUT_SECONDS):
            return await main(*args)
    except TimeoutError:
        raise TimeoutError(f"timed out after {TIMEOUT_SECONDS} s") from None


if __name__ == "__main__":
    try:
        print(json.dumps(anyio.run(run, sys.argv[1:5])))
    except BaseException as error:  # noqa: BLE001 - report any failure (and the timeout) as exit 1
        while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
            error = error.exceptions[0]  # the SDK's task groups wrap the one real error
        print(f"era client failed: {error!r}; requests: {', '.join(REQUESTS[-8:])}", file=sys.stderr)
        sys.exit(1)
