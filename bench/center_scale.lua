-- SPDX-License-Identifier: Apache-2.0
-- wrk script of bench/center_scale.py: GETs of random center objects, with a session.
-- (errors.status in the result counts answers of 400 and above.)
--   BENCH_PATHS  file with one request path per line (VMs, inventory objects, hosts)
--   BENCH_TOKEN  center session token
--   BENCH_RESULT where done() writes the figures as JSON
local paths = {}
for line in io.lines(os.getenv("BENCH_PATHS")) do
	paths[#paths + 1] = line
end
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")

function setup(thread)
	thread:set("seed", math.random(1, 1000000))
end

function init(args)
	math.randomseed(seed)
end

function request()
	return wrk.format("GET", paths[math.random(1, #paths)])
end

function done(summary, latency, requests)
	local e = summary.errors
	local f = io.open(os.getenv("BENCH_RESULT"), "w")
	f:write(string.format(
		'{"requests": %d, "duration_us": %d, "bytes": %d, "latency_us": {"p50": %d, ' ..
		'"p90": %d, "p99": %d, "max": %d, "mean": %.1f}, "errors": {"connect": %d, ' ..
		'"read": %d, "write": %d, "status": %d, "timeout": %d}}\n',
		summary.requests, summary.duration, summary.bytes, latency:percentile(50),
		latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
		e.connect, e.read, e.write, e.status, e.timeout))
	f:close()
end
