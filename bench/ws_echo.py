"""WebSocket echo load for bench/data_plane.sh: N connections, each sending a small text message
and waiting for its echo, back to back, for D seconds. Prints one line:

    round_trips=<n> rt_per_s=<x> p50_us=<x> p99_us=<x> errors=<n>

Usage: python ws_echo.py URL CONNECTIONS SECONDS [HEADER: VALUE ...]
Needs the `websockets` package (the repo's .peers/venv has it); uses uvloop when installed.
A connection whose handshake fails, or an echo that is not `Echo: <message>`, counts as an error
(the script then exits 1 after printing the line).
"""

import asyncio
import sys
import time

import websockets


async def worker(url, headers, deadline, samples, errors):
    try:
        async with websockets.connect(
            url, additional_headers=headers, compression=None, max_queue=None, open_timeout=10
        ) as ws:
            msg = "ping from the benchmark"
            want = "Echo: " + msg
            clock = time.perf_counter
            while clock() < deadline:
                t0 = clock()
                await ws.send(msg)
                got = await ws.recv()
                samples.append(clock() - t0)
                if got != want:
                    errors.append(f"unexpected echo {got!r}")
                    return
    except Exception as e:  # noqa: BLE001 - any failure is an error to report
        errors.append(repr(e))


async def main():
    url, conns, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    headers = [tuple(h.split(": ", 1)) for h in sys.argv[4:] if h]
    samples, errors = [], []
    start = time.perf_counter()
    deadline = start + seconds
    await asyncio.wait_for(
        asyncio.gather(*(worker(url, headers, deadline, samples, errors) for _ in range(conns))),
        seconds + 20,
    )
    elapsed = time.perf_counter() - start
    samples.sort()
    n = len(samples)
    p = lambda q: samples[min(n - 1, int(q * n))] * 1e6 if n else 0.0  # noqa: E731
    print(
        f"round_trips={n} rt_per_s={n / elapsed:.1f} p50_us={p(0.50):.1f} p99_us={p(0.99):.1f} "
        f"errors={len(errors)}"
    )
    for e in errors[:5]:
        print(f"error: {e}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    try:
        import uvloop

        run = uvloop.run
    except ImportError:
        run = asyncio.run
    sys.exit(run(main()))
