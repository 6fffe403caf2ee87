// The official TypeScript MCP client (SDK v2, @modelcontextprotocol/client 2.4) with DPoP
// (RFC 9449, SEP-1932): a client-credentials provider whose dpop() returns a DpopSession,
// so the SDK sends a proof with its token request, gets a DPoP-bound token and presents it
// with the DPoP scheme and a fresh proof per request, retrying nonce challenges itself.
// Then what someone who copied that token can do with it, by hand.
//
//   node dpop_client.mjs URL CLIENT_ID SECRET
//
// Prints one JSON line: {"tokenType", "jkt", "thumbprint", "tools", "result", "requests",
// "copied"}: `requests` is every request the SDK made ("METHOD path status [DPoP]"),
// `copied` the status and error of each misuse of the token. Exits 1 with the error on
// stderr on any failure or after 30 s.
import { SignJWT } from "jose";
import {
  Client,
  ClientCredentialsProvider,
  DpopSession,
  StreamableHTTPClientTransport,
  accessTokenHash,
} from "@modelcontextprotocol/client";

const [url, clientId, secret] = process.argv.slice(2);

function fail(error) {
  console.error(`dpop client failed: ${error?.stack ?? error}`);
  process.exit(1);
}
setTimeout(() => fail("timed out after 30 s"), 30_000).unref();

/** Client credentials, bound to a key: the provider's `dpop()` hook. */
class DpopClientCredentials extends ClientCredentialsProvider {
  constructor(options, session) {
    super(options);
    this.session = session;
  }
  dpop() {
    return this.session;
  }
}

const requests = [];
async function recordingFetch(input, init) {
  const response = await fetch(input, init);
  const headers = new Headers(init?.headers);
  const target = new URL(input.toString());
  requests.push(`${init?.method ?? "GET"} ${target.pathname} ${response.status}${headers.has("dpop") ? " DPoP" : ""}`);
  return response;
}

function claims(token) {
  return JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString());
}

async function main() {
  const session = await DpopSession.create();
  const provider = new DpopClientCredentials(
    { clientId, clientSecret: secret, expectedIssuer: new URL(url).origin },
    session,
  );
  const client = new Client({ name: "clavis-dpop-client", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { authProvider: provider, fetch: recordingFetch }));
  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name);
  const call = names.includes("whoami")
    ? await client.callTool({ name: "whoami", arguments: {} })
    : await client.callTool({ name: "echo", arguments: { text: "bound" } });
  if (call.isError) throw new Error(`tool error: ${JSON.stringify(call.content)}`);
  const result = call.content.filter((c) => c.type === "text").map((c) => c.text).join("");
  // Forget the server's nonce (as a restarted client would): where nonces are demanded,
  // the next call is challenged and the SDK retries it with the nonce it is given.
  session.nonces.clear();
  await client.listTools();
  const tokens = await provider.tokens();
  const token = tokens.access_token;

  // Someone who copied the token (and maybe a proof) but not the key.
  const body = JSON.stringify({ jsonrpc: "2.0", id: 9, method: "tools/list", params: {} });
  const base = {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    "mcp-protocol-version": "2025-11-25",
  };
  const attempt = async (authorization, proof, method = "POST") => {
    const headers = { ...base, authorization };
    if (proof) headers.dpop = proof;
    const response = await fetch(url, { method, headers, body: method === "POST" ? body : undefined });
    const answer = await response.json().catch(() => ({}));
    return `${response.status} ${answer.error ?? ""}`.trim();
  };
  const stranger = await DpopSession.create();
  const fresh = () => session.buildProof({ htm: "POST", htu: url, accessToken: token });
  const reused = await fresh();
  // A proof of the holder's key from two minutes ago (the SDK always signs "now").
  const stale = await new SignJWT({
    jti: crypto.randomUUID(),
    htm: "POST",
    htu: url,
    iat: Math.floor(Date.now() / 1000) - 120,
    ath: await accessTokenHash(token),
  })
    .setProtectedHeader({ alg: session.alg, typ: "dpop+jwt", jwk: session.publicJwk })
    .sign(session.keyPair.privateKey);
  const copied = {
    holder: await attempt(`DPoP ${token}`, await fresh()),
    bearer: await attempt(`Bearer ${token}`),
    noProof: await attempt(`DPoP ${token}`),
    otherKey: await attempt(`DPoP ${token}`, await stranger.buildProof({ htm: "POST", htu: url, accessToken: token })),
    otherUrl: await attempt(
      `DPoP ${token}`,
      await session.buildProof({ htm: "POST", htu: new URL("/api/v1/credentials", url), accessToken: token }),
    ),
    otherMethod: await attempt(`DPoP ${token}`, await session.buildProof({ htm: "GET", htu: url, accessToken: token })),
    stale: await attempt(`DPoP ${token}`, stale),
    firstUse: await attempt(`DPoP ${token}`, reused),
    reusedJti: await attempt(`DPoP ${token}`, reused),
    wrongAth: await attempt(`DPoP ${token}`, await session.buildProof({ htm: "POST", htu: url, accessToken: "another" })),
  };
  await client.close();
  console.log(
    JSON.stringify({
      tokenType: tokens.token_type,
      jkt: claims(token).cnf?.jkt,
      thumbprint: session.thumbprint,
      tools: names,
      result,
      requests,
      copied,
    }),
  );
  process.exit(0);
}

main().catch(fail);
