-- wrk script for bench/data_plane.sh: every request is a POST with a 10 MiB body (the request is
-- built once; wrk adds Content-Length). Extra headers (-H) still apply.
wrk.method = "POST"
wrk.body = string.rep("x", 10 * 1024 * 1024)
wrk.headers["Content-Type"] = "application/octet-stream"
