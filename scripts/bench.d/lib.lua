-- Shared by the wrk scripts of scripts/bench: numbers each thread, and prints the run as
-- grep-friendly name=value lines (prefix from $BENCH_PREFIX). wrk counts answers outside
-- 2xx/3xx in summary.errors.status; a script that defines response() adds its own counters.
local threads = {}
local next_id = 0

function setup(thread)
   next_id = next_id + 1
   thread:set("thread_id", next_id)
   table.insert(threads, thread)
end

-- Counters a script's response() may bump (read back per thread in done()).
empty = 0      -- e.g. 204 from a kitchen claim: nothing was claimed
unexpected = 0 -- a 2xx other than the one the script expects

function seed_random()
   math.randomseed(os.time() * 1000 + (thread_id or 0) * 7919)
end

function done(summary, latency, requests)
   local prefix = os.getenv("BENCH_PREFIX") or "wrk"
   local seconds = summary.duration / 1e6
   local e = summary.errors
   local empties, unexpecteds = 0, 0
   for _, t in ipairs(threads) do
      empties = empties + (tonumber(t:get("empty")) or 0)
      unexpecteds = unexpecteds + (tonumber(t:get("unexpected")) or 0)
   end
   local out = {
      {"requests", string.format("%d", summary.requests)},
      {"seconds", string.format("%.2f", seconds)},
      {"rps", string.format("%.0f", summary.requests / seconds)},
      {"p50_ms", string.format("%.3f", latency:percentile(50) / 1000)},
      {"p90_ms", string.format("%.3f", latency:percentile(90) / 1000)},
      {"p99_ms", string.format("%.3f", latency:percentile(99) / 1000)},
      {"max_ms", string.format("%.3f", latency.max / 1000)},
      {"non2xx", string.format("%d", e.status)},
      {"socket_errors", string.format("%d", e.connect + e.read + e.write + e.timeout)},
      {"empty", string.format("%d", empties)},
      {"unexpected", string.format("%d", unexpecteds)},
   }
   for _, kv in ipairs(out) do
      io.write(prefix, "_", kv[1], "=", kv[2], "\n")
   end
end
