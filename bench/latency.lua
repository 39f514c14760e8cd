-- wrk reporter: one machine-readable line with the figures wrk's own summary lacks (p99.9).
-- BENCH <requests> <duration_us> <socket_errors> <non2xx> <p50_us> <p99_us> <p999_us>
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %d %d %d %d %d %d %d\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
