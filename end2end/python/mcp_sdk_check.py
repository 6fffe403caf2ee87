"""The official Python MCP SDK against Clavis, given only the server URL, a client id and
a secret: it must discover (401 -> protected-resource metadata -> authorization-server
metadata -> token) and call `whoami` by itself. Run by end2end/tests/mcp.spec.ts, which
creates the credential in the dashboard.

    python mcp_sdk_check.py MCP_URL CLIENT_ID CLIENT_SECRET [TOOL [ARGUMENTS_JSON [ISSUER]]]

CLIENT_SECRET `key:ALG:PATH` means private_key_jwt instead: the SDK's
PrivateKeyJWTOAuthProvider signs its assertions with the PEM private key at PATH (ALG:
EdDSA, ES256 or RS256).

TOOL defaults to `whoami` with no arguments; ISSUER (the authorization server the SDK
may send the credentials to) to the MCP URL's origin, which is Clavis for its own
endpoint and its gateway. Prints the result and the requests made as JSON; exits 1 on
any failure.
"""

import asyncio
import json
import sys
from urllib.parse import urlsplit

import httpx2
from mcp.client.auth.extensions.client_credentials import (
    ClientCredentialsOAuthProvider,
    PrivateKeyJWTOAuthProvider,
    SignedJWTParameters,
)
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from token_storage import MemoryStorage


async def main(
    url: str,
    client_id: str,
    client_secret: str,
    tool: str = "whoami",
    arguments: str = "{}",
    issuer: str | None = None,
) -> dict:
    requests: list[str] = []

    async def record(response):
        requests.append(f"{response.request.method} {response.request.url.path} {response.status_code}")

    origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
    if client_secret.startswith("key:"):
        _, alg, path = client_secret.split(":", 2)
        with open(path, encoding="utf-8") as key_file:
            signing_key = key_file.read()
        jwt = SignedJWTParameters(
            issuer=client_id, subject=client_id, signing_key=signing_key, signing_algorithm=alg
        )
        auth = PrivateKeyJWTOAuthProvider(
            server_url=url,
            storage=MemoryStorage(),
            client_id=client_id,
            assertion_provider=jwt.create_assertion_provider(),
            issuer=issuer or origin,
        )
    else:
        auth = ClientCredentialsOAuthProvider(
            server_url=url,
            storage=MemoryStorage(),
            client_id=client_id,
            client_secret=client_secret,
            # Derived from the server URL alone unless given: the credentials go only there.
            issuer=issuer or origin,
        )
    async with httpx2.AsyncClient(auth=auth, event_hooks={"response": [record]}) as http:
        async with streamable_http_client(url, http_client=http) as (read, write, *_):
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = await session.list_tools()
                result = await session.call_tool(tool, json.loads(arguments))
    return {
        "tools": [tool.name for tool in tools.tools],
        "is_error": bool(result.is_error),
        "structured": result.structured_content,
        "text": [c.text for c in result.content if getattr(c, "type", None) == "text"],
        "requests": requests,
    }


if __name__ == "__main__":
    try:
        print(json.dumps(asyncio.run(main(*sys.argv[1:7]))))
    except Exception as error:  # noqa: BLE001 - report any failure as exit 1
        print(f"MCP SDK check failed: {error!r}", file=sys.stderr)
        sys.exit(1)
