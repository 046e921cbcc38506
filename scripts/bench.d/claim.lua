-- Claims: POST /v1/kitchen/claim (operator API, bearer token from $BENCH_TOKEN), wait 0 and a
-- long lease so nothing is handed back during the run. A 204 (nothing to claim) is counted as
-- "empty": the queue must not run dry during the measurement.
dofile(os.getenv("BENCH_D") .. "/lib.lua")

local req

function init(args)
   local body = string.format('{"cook":"bench-%d","lease_seconds":3600,"wait":0}', thread_id or 0)
   req = wrk.format("POST", "/v1/kitchen/claim", {
      ["Content-Type"] = "application/json",
      ["Authorization"] = "Bearer " .. (os.getenv("BENCH_TOKEN") or ""),
   }, body)
end

function request()
   return req
end

function response(status, headers, body)
   if status == 204 then
      empty = empty + 1
   elseif status ~= 200 and status < 300 then
      unexpected = unexpected + 1
   end
end
