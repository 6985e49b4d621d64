-- wrk script of the serving benchmark: POST /v1/predict with the bodies of a
-- file (one JSON line each), each connection starting at its own place and
-- going round; counts 503s apart from other failures; prints one JSON line.
--   wrk -s load.lua URL -- BODIES_FILE
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  bodies = {}
  for line in io.lines(args[1]) do
    if #line > 0 then bodies[#bodies + 1] = line end
  end
  i = (id * 7919) % #bodies
  n503, nbad = 0, 0
end

function request()
  i = i % #bodies + 1
  return wrk.format("POST", "/v1/predict", {["Content-Type"] = "application/json"}, bodies[i])
end

function response(status, headers, body)
  if status == 503 then n503 = n503 + 1 elseif status ~= 200 then nbad = nbad + 1 end
end

function done(summary, latency, requests)
  local s503, sbad = 0, 0
  for _, t in ipairs(threads) do
    s503 = s503 + t:get("n503")
    sbad = sbad + t:get("nbad")
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"seconds":%.3f,"status_503":%d,"status_other":%d,"socket_errors":%d,' ..
    '"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"mean_ms":%.3f,"max_ms":%.3f}\n',
    summary.requests, summary.duration / 1e6, s503, sbad,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1e3, latency:percentile(90) / 1e3, latency:percentile(99) / 1e3,
    latency.mean / 1e3, latency.max / 1e3))
end
