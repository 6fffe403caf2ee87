// The benchmark's peer: node oidc-provider configured like Clavis' token endpoint —
// client_credentials grant, client_secret_basic, JWT access tokens (ES256) for one
// resource indicator (<issuer>/mcp) with scope `mcp`, one hour lifetime. One worker
// process per core (node:cluster), as Clavis uses every core.
//
//   node server.mjs PORT CLIENT_ID CLIENT_SECRET
import cluster from "node:cluster";
import { generateKeyPairSync } from "node:crypto";
import { availableParallelism } from "node:os";

const [port, clientId, clientSecret] = process.argv.slice(2);
if (!port || !clientId || !clientSecret) {
  console.error("usage: node server.mjs PORT CLIENT_ID CLIENT_SECRET");
  process.exit(2);
}

if (cluster.isPrimary) {
  // One signing key for every worker, so all tokens verify against one JWKS.
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const jwk = JSON.stringify({ ...privateKey.export({ format: "jwk" }), alg: "ES256", use: "sig", kid: "peer" });
  for (let i = 0; i < availableParallelism(); i += 1) cluster.fork({ PEER_JWK: jwk });
  cluster.on("exit", (worker, code) => {
    console.error(`peer worker ${worker.process.pid} exited with ${code}`);
    process.exit(1);
  });
  for (const signal of ["SIGTERM", "SIGINT"]) {
    process.on(signal, () => {
      for (const worker of Object.values(cluster.workers)) worker.kill();
      process.exit(0);
    });
  }
} else {
  const { default: Provider, errors } = await import("oidc-provider");
  const issuer = `http://127.0.0.1:${port}`;
  const resource = `${issuer}/mcp`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        grant_types: ["client_credentials"],
        redirect_uris: [],
        response_types: [],
        token_endpoint_auth_method: "client_secret_basic",
        // Only an EC key is configured; the default (RS256) would need an RSA one.
        id_token_signed_response_alg: "ES256",
        scope: "mcp",
      },
    ],
    scopes: ["mcp"],
    jwks: { keys: [JSON.parse(process.env.PEER_JWK)] },
    routes: { token: "/mcp/oauth/token" },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => resource,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, indicator) => {
          if (indicator !== resource) throw new errors.InvalidTarget();
          return {
            scope: "mcp",
            audience: resource,
            accessTokenTTL: 3600,
            accessTokenFormat: "jwt",
            jwt: { sign: { alg: "ES256" } },
          };
        },
      },
    },
  });
  provider.listen(Number(port), "127.0.0.1");
}
