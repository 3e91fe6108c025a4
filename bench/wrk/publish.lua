-- POST pre-signed envelopes (one JSON per line in the file named by the first argument) to /v1/actions with
-- the API key in the second argument; each envelope is sent once. Run with one thread (-t1) so that one Lua
-- state hands out the envelopes. Prints the summary and the count of answers other than 201 as JSON.
local bodies = {}
local next_body = 0
local token = ""
local not_created = 0

function init(args)
  local f = assert(io.open(args[1], "r"))
  for line in f:lines() do
    if #line > 0 then bodies[#bodies + 1] = line end
  end
  f:close()
  token = args[2]
end

function request()
  next_body = next_body + 1
  if next_body > #bodies then
    -- Out of fresh envelopes: re-sending one would measure the idempotent path instead; stop here.
    wrk.thread:stop()
    next_body = #bodies
  end
  return wrk.format("POST", "/v1/actions",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, bodies[next_body])
end

function response(status, headers, body)
  if status ~= 201 then
    not_created = not_created + 1
    if not_created <= 3 then io.stderr:write("publish answered " .. status .. ": " .. body:sub(1, 300) .. "\n") end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\nRESULT {"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,' ..
    '"status_errors":%d,"timeouts":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max, latency.mean))
end
