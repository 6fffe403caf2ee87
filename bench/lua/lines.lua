-- Requests that each send the next line of a file made ahead of the run (a
-- private_key_jwt assertion, a DPoP proof: each is accepted once); wrk's two threads
-- take alternate lines of the file named by BENCH_LINES.
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
function init(args)
  lines, n, i = {}, 0, 0
  for line in io.lines(os.getenv("BENCH_LINES")) do
    if n % 2 == id then lines[#lines + 1] = line end
    n = n + 1
  end
end
function next_line()
  i = i + 1
  return lines[i] or lines[#lines]
end
