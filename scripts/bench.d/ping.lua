-- Ceiling: GET /ping on ticketd-ceiling (only the reporting of lib.lua).
dofile(os.getenv("BENCH_D") .. "/lib.lua")
