"""A plain MCP server (official Python SDK, no authentication of its own) for the
gateway's end-to-end tests: Clavis stands in front of it.

    python upstream_server.py PORT
"""

import sys

from mcp.server.mcpserver import MCPServer

server = MCPServer("docs-upstream")


@server.tool()
def search(query: str) -> str:
    """Searches the docs."""
    return f"results for {query}"


@server.tool()
def secret() -> str:
    """A tool some credentials may not call."""
    return "the secret tool ran"


if __name__ == "__main__":
    server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[1]))
