"""An upstream MCP server (official Python SDK, no authentication) for the era matrix: the
same tools for 2026-07-28 clients and for handshake-era (initialize) clients.

    python era_server.py PORT        # serves http://127.0.0.1:PORT/mcp

The SDK picks the era per request from the MCP-Protocol-Version header: a modern version
is served statelessly, anything else by the stateful (session) transport. `ask` and
`sample` get their input through `Resolve(...)`: the SDK turns it into an
`input_required` result on 2026-07-28 and into an elicitation/sampling request to the
client on older versions. Log messages reach 2026-07-28 clients only when the request
opts in with `_meta["io.modelcontextprotocol/logLevel"]`.
"""

import sys
import warnings
from typing import Annotated

from mcp.server.mcpserver import Context, Elicit, MCPServer, Resolve, Sample
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp_types import CreateMessageResult, SamplingMessage, TextContent
from pydantic import BaseModel

server = MCPServer("era-upstream-python")
warnings.filterwarnings("ignore", category=MCPDeprecationWarning)  # logging is deprecated in 2026-07-28, used on purpose


class Answer(BaseModel):
    answer: str


def ask_user() -> Elicit[Answer]:
    return Elicit("Anything to say?", Answer)


def ask_model() -> Sample:
    question = SamplingMessage(role="user", content=TextContent(type="text", text="Say hello."))
    return Sample([question], max_tokens=20)


@server.tool()
def echo(text: str) -> str:
    """Returns the text."""
    return text


@server.tool()
def secret() -> str:
    """A tool some credentials may not call."""
    return "the secret tool ran"


@server.tool()
async def count(n: int, ctx: Context) -> str:
    """Reports n progress steps and logs "counting"."""
    for i in range(1, n + 1):
        await ctx.report_progress(i, n)
    await ctx.info("counting")
    return f"counted {n}"


@server.tool()
def ask(reply: Annotated[Answer, Resolve(ask_user)]) -> str:
    """Asks the user for an answer (elicitation)."""
    return f"you said {reply.answer}"


@server.tool()
def sample(result: Annotated[CreateMessageResult, Resolve(ask_model)]) -> str:
    """Asks the client's model to say something (sampling)."""
    return f"model said {result.content.text}"


if __name__ == "__main__":
    server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[1]))
