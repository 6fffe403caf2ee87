-- DPoP (RFC 9449): the next proof in the DPoP header, at the token endpoint and /mcp
-- alike (the body, content type and Authorization from the environment). After lines.lua.
function request()
  local headers = {
    ["Content-Type"] = os.getenv("BENCH_TYPE"),
    ["Accept"] = "application/json, text/event-stream",
    ["MCP-Protocol-Version"] = "2025-06-18",
    ["Authorization"] = os.getenv("BENCH_AUTH"),
    ["DPoP"] = next_line(),
  }
  return wrk.format("POST", nil, headers, os.getenv("BENCH_BODY"))
end
