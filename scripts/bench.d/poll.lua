-- Polling: GET /v1/tickets/{ticket}, a ticket picked at random per request from the file
-- $BENCH_TICKETS (one ticket id a line), loaded at init.
dofile(os.getenv("BENCH_D") .. "/lib.lua")

local pool = {}

function init(args)
   seed_random()
   local f = assert(io.open(os.getenv("BENCH_TICKETS"), "r"))
   for line in f:lines() do
      if #line > 0 then
         table.insert(pool, wrk.format("GET", "/v1/tickets/" .. line))
      end
   end
   f:close()
   assert(#pool > 0, "no tickets in " .. os.getenv("BENCH_TICKETS"))
end

function request()
   return pool[math.random(#pool)]
end
