-- wrk script: POST a task definition (the fixture named in WHARF_BENCH_DOC) to register it.
local path = os.getenv("WHARF_BENCH_DOC")
local f = assert(io.open(path, "r"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
