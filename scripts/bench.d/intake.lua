-- Intake: POST /v1/orders with varied orders. Each thread builds a pool of requests at init
-- (1-3 lines of menu items, quantities 1-4, some rush, some with a customer or a note) and
-- cycles through it, so Lua costs little per request.
--   BENCH_ITEMS     comma-separated menu items to order from (default cheeseburger,fries,cola)
--   BENCH_RUSH_PCT  percentage of rush orders (default 10)
--   BENCH_PATH      where to post them (default /v1/orders; the durable route takes /orders)
dofile(os.getenv("BENCH_D") .. "/lib.lua")

local items = {}
for item in string.gmatch(os.getenv("BENCH_ITEMS") or "cheeseburger,fries,cola", "[^,]+") do
   table.insert(items, item)
end
local rush_pct = tonumber(os.getenv("BENCH_RUSH_PCT") or "10")
local path = os.getenv("BENCH_PATH") or "/v1/orders"
local customers = {"Ana", "Bo", "Chidi", "Dana", "Émile", "Fatima", "Gus", "Hiro"}
local notes = {"no onions", "extra ketchup", "to go", "well done, please"}
local pool = {}
local n = 0

function init(args)
   seed_random()
   for i = 1, 1009 do
      local lines = {}
      for j = 1, math.random(1, 3) do
         lines[j] = string.format('{"item":"%s","quantity":%d}', items[math.random(#items)], math.random(1, 4))
      end
      local fields = {'"items":[' .. table.concat(lines, ",") .. ']'}
      table.insert(fields, string.format('"priority":"%s"', math.random(100) <= rush_pct and "rush" or "normal"))
      if math.random(3) == 1 then
         table.insert(fields, string.format('"customer":"%s"', customers[math.random(#customers)]))
      end
      if math.random(5) == 1 then
         table.insert(fields, string.format('"note":"%s"', notes[math.random(#notes)]))
      end
      local body = "{" .. table.concat(fields, ",") .. "}"
      pool[i] = wrk.format("POST", path, {["Content-Type"] = "application/json"}, body)
   end
   n = math.random(#pool)
end

function request()
   n = n % #pool + 1
   return pool[n]
end
