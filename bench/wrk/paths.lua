-- GET a rotating list of paths (one per line in the file named by the first script argument), and print the
-- summary as one JSON line. Each wrk thread starts at its own offset so threads do not march in step.
local paths = {}
local counter = 0

function init(args)
  local f = assert(io.open(args[1], "r"))
  for line in f:lines() do
    if #line > 0 then paths[#paths + 1] = line end
  end
  f:close()
  counter = math.random(#paths)
end

function request()
  counter = counter % #paths + 1
  return wrk.format("GET", paths[counter])
end

-- done(): the shared summary line (result.lua, beside this script).
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "result.lua")
