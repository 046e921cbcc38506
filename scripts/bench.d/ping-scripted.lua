-- Ceiling with the load generator's per-request work of the other steps: wrk calls a Lua
-- request() for every request, as intake.lua and poll.lua do (ping.lua lets wrk send one
-- pre-built request over and over, which costs wrk about 2 us less per request; on 2 cores
-- shared with the server that shows up as server throughput).
dofile(os.getenv("BENCH_D") .. "/lib.lua")

local req

function init(args)
   req = wrk.format("GET", "/ping")
end

function request()
   return req
end
