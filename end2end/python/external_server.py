"""An MCP server that checks Clavis access tokens itself: an *external* server in Clavis.

Clavis's dashboard shows this file (with your issuer and resource URL filled in) on the
page of every external server, and end2end/tests/servers.spec.ts runs it and calls it with
a token from Clavis, so the example is known to work.

    pip install mcp pyjwt[crypto]
    python external_server.py [ISSUER RESOURCE_URL PORT]

Tokens are JWTs (RFC 9068, EdDSA) signed by the keys at <issuer>/.well-known/jwks.json.
The verifier checks the signature, `typ: at+jwt`, the issuer, the audience (this server's
resource URL) and expiry; the MCP SDK then checks the `mcp` scope. A JWT check does not
see a revocation before the token expires: for that, ask <issuer>/mcp/oauth/introspect.
"""

import sys

import anyio
import jwt
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer

ISSUER = "https://clavis.example.com"
RESOURCE_URL = "https://mcp.example.com/mcp"


class ClavisTokenVerifier:
    """Accepts the access tokens Clavis issues for this server (MCP SDK TokenVerifier)."""

    def __init__(self, issuer: str, audience: str):
        self.issuer = issuer
        self.audience = audience
        self.jwks = jwt.PyJWKClient(f"{issuer}/.well-known/jwks.json", cache_keys=True)

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            if jwt.get_unverified_header(token).get("typ") != "at+jwt":
                return None
            # PyJWKClient fetches (and caches) the keys with blocking I/O: off the event loop.
            key = await anyio.to_thread.run_sync(self.jwks.get_signing_key_from_jwt, token)
            claims = jwt.decode(
                token,
                key.key,
                algorithms=["EdDSA"],
                issuer=self.issuer,
                audience=self.audience,
                options={"require": ["exp", "iat", "client_id", "scope"]},
            )
        except jwt.PyJWTError:
            return None
        return AccessToken(
            token=token,
            client_id=claims["client_id"],
            scopes=claims["scope"].split(),
            expires_at=claims["exp"],
            resource=self.audience,
            subject=claims.get("sub"),
        )


def build(issuer: str, resource_url: str) -> MCPServer:
    server = MCPServer(
        "docs",
        token_verifier=ClavisTokenVerifier(issuer, resource_url),
        auth=AuthSettings(
            issuer_url=issuer,
            resource_server_url=resource_url,
            required_scopes=["mcp"],
            validate_token_resource=True,
        ),
    )

    @server.tool()
    def hello(name: str) -> str:
        """Greets the caller."""
        return f"Hello, {name}!"

    return server


if __name__ == "__main__":
    issuer, resource_url, port = sys.argv[1:4] if len(sys.argv) > 3 else (ISSUER, RESOURCE_URL, "8000")
    build(issuer, resource_url).run("streamable-http", host="127.0.0.1", port=int(port))
