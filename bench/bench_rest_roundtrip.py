"""REST round trip: the openalgo SDK (1.0.47: a fresh httpx connection per
call) against our pooled requests.Session, on a local aiohttp server.

    python bench/bench_rest_roundtrip.py [--n 300]

Both clients make the same calls (orderstatus, funds) to the same server on
127.0.0.1 in the same run; we print p50/p99 per client and per call and the
SDK/pooled ratio. Our client's rate limiter is opened wide so that only the
transport is compared (the real limit, 50/s, would dominate otherwise).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from live.openalgo import OpenAlgoBroker  # noqa: E402
from live.ratelimit import RateLimits  # noqa: E402

KEY = "bench-key-0123456789"
ORDER = {
    "action": "BUY",
    "exchange": "NSE",
    "order_status": "complete",
    "orderid": "250408000989443",
    "price": 0,
    "pricetype": "MARKET",
    "product": "MIS",
    "quantity": "10",
    "symbol": "SBIN",
    "timestamp": "08-Apr-2025 13:58:03",
    "trigger_price": 0,
    "average_price": 512.35,
}
FUNDS = {
    "availablecash": "100000.00",
    "collateral": "0.00",
    "m2mrealized": "0.00",
    "m2munrealized": "0.00",
    "utiliseddebits": "0.00",
}


def serve() -> tuple[str, callable]:
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()

    async def orderstatus(request):
        await request.json()
        return web.json_response({"status": "success", "data": ORDER})

    async def funds(request):
        await request.json()
        return web.json_response({"status": "success", "data": FUNDS})

    async def start():
        app = web.Application()
        app.router.add_post("/api/v1/orderstatus", orderstatus)
        app.router.add_post("/api/v1/funds", funds)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return runner, site._server.sockets[0].getsockname()[1]

    runner, port = asyncio.run_coroutine_threadsafe(start(), loop).result(10)

    def stop():
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)

    return f"http://127.0.0.1:{port}", stop


def measure(fn, n: int, warmup: int = 20) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    args = ap.parse_args()
    from openalgo import api

    url, stop = serve()
    try:
        sdk = api(api_key=KEY, host=url)
        ours = OpenAlgoBroker(url, KEY, rate_limits=RateLimits(other=1_000_000))

        def sdk_status():
            r = sdk.orderstatus(order_id="250408000989443", strategy="bench")
            assert r["status"] == "success", r

        def sdk_funds():
            assert sdk.funds()["status"] == "success"

        cases = [
            ("orderstatus", "sdk", sdk_status),
            ("orderstatus", "pooled", lambda: ours.order_status("250408000989443")),
            ("funds", "sdk", sdk_funds),
            ("funds", "pooled", ours.funds),
        ]
        results: dict[tuple[str, str], list[float]] = {}
        for call, client, fn in cases:
            results[(call, client)] = measure(fn, args.n)
        print(f"REST round trip on 127.0.0.1, N={args.n} per call per client (ms)")
        print(f"{'call':12} {'client':8} {'p50':>8} {'p99':>8} {'mean':>8}")
        for (call, client), xs in results.items():
            print(
                f"{call:12} {client:8} {pct(xs, 50):8.3f} {pct(xs, 99):8.3f} "
                f"{statistics.fmean(xs):8.3f}"
            )
        sdk_all = results[("orderstatus", "sdk")] + results[("funds", "sdk")]
        our_all = results[("orderstatus", "pooled")] + results[("funds", "pooled")]
        for p in (50, 99):
            a, b = pct(sdk_all, p), pct(our_all, p)
            print(
                f"all calls p{p}: sdk {a:.3f} ms, pooled {b:.3f} ms, ratio sdk/pooled {a / b:.2f}x"
            )
        ours.close()
    finally:
        stop()


if __name__ == "__main__":
    main()
