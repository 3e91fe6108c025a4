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

-- done(): the shared summary line (result.lua, beside this script).
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "result.lua")
