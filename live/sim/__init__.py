"""Embedded OpenAlgo-compatible broker simulator.

Two ways in, one matching engine:

* **Socket mode** - ``SimServer`` speaks OpenAlgo's REST (``POST
  /api/v1/<endpoint>``: placeorder, placesmartorder, modifyorder,
  cancelorder, cancelallorder, closeposition, orderstatus, openposition,
  orderbook, tradebook, positionbook, holdings, funds, quotes, multiquotes,
  depth, history, symbol, search, ping, analyzer, analyzer/toggle,
  telegram/notify, market/holidays, market/timings; and ``GET
  /api/v1/instruments?apikey=&exchange=&format=json|csv``) and WebSocket
  protocol (authenticate, subscribe in both forms, unsubscribe[_all], ping,
  subscribe_orders -> order_update) on 127.0.0.1, so the unmodified
  ``openalgo`` SDK and our own feed talk to it. Endpoint shapes:
  live/sim/rest.py (each handler names the server source it follows).
* **In-process mode** - ``SimBroker`` implements ``live.broker.Broker``
  directly, with ``on_tick`` / ``on_order_update`` callbacks; tests move time
  with ``step()`` / ``advance_to(ts)`` / ``push_tick(key, ltp, ts)``.

Quick start::

    from datetime import date
    from live.clock import ReplayClock
    from live.sim import SimDay, Simulator, SimServer, SimBroker

    day = SimDay.generate(date(2026, 11, 20),
                          {"NSE:SBIN": "long_win", "NSE:INFY": "short_stopout_reentry"},
                          seed=7)
    # in-process (a ManualClock at 09:14 by default)
    sim = Simulator(day)
    broker = SimBroker(sim)
    broker.on_order_update(print)
    sim.advance_to(day.open_at + timedelta(minutes=30))

    # over sockets, replaying the day ~375x (a day in a minute)
    sim = Simulator(day, clock=ReplayClock(day.open_at - timedelta(minutes=1), speed=375))
    with SimServer(sim, api_key="k").start() as srv:   # ephemeral ports
        srv.http_url, srv.ws_url

Public API
----------
``SimDay.generate(day, {"NSE:SBIN": scenario} | ["NSE:SBIN", ...], *, seed=0,
tick_seconds=5.0, history_days=20, session=None, default_scenario=None)``;
``SimDay.from_csv(path, *, prior_bars=None, instruments=None)`` (columns
symbol,exchange,timestamp,ltp); ``SimDay.synthetic(day, count, tick_rate, *,
seed=0, setup_share=0.05)`` (lazy: ``tick_stream()`` makes the ticks, the
SymbolDays hold none). Scenarios: ``SCENARIOS`` (long_win,
long_stopout, long_stopout_reentry, short_*, no_setup, random, and the
opening-range-breakout kinds ``ORB_KINDS``: orb_up, orb_down, orb_whipsaw,
orb_none); ``SimDay.symbol(key).levels`` gives the designed 80-20 levels,
``.orb`` the opening range and its breakout/reversal (``OrbLevels``;
``orb_truth(ticks, open_at, minutes=15)`` reads the same from any ticks).
``SimDay.generate(..., orb_minutes=15)`` sets the range the orb_* kinds use.

``Simulator(day, *, clock=None, config=EngineConfig(), faults=FaultPlan(),
include_today_bar=True, holdings=(), telegram_users=None)``: ``session_id``
(uuid4 hex, new for every Simulator: the broker world's identity, served as
``ping``'s ``data.session`` and in the WebSocket auth reply),
``notifications`` (every ``telegram/notify`` alert), ``notify(...)``,
``analyze_mode`` / ``set_analyze_mode``, ``holdings`` (``SimHolding``s); ``step() -> SimTick | None``, ``advance_to(ts) ->
int``, ``advance(seconds)``, ``run_to_end()``, ``push_tick(key, ltp, ts=None)``,
``on_tick(cb)``, ``on_order_event(cb)``, ``truth`` (GroundTruth),
``intraday_bars(key, seconds, start, end)``, ``ticks_applied`` (by the pump),
``engine`` (MatchingEngine), ``daily_bars(key, start, end)``, ``quote(key)``.
``history`` with interval D includes today's forming bar once the market has
ticked (as real brokers do) unless ``include_today_bar=False``.

``SimBroker(sim, *, rate_limits=None)``: the Broker protocol (place_order,
modify_order, cancel_order, order_status, orderbook, positions, funds,
instrument, daily_bars) + ``on_tick``, ``on_order_update`` (OrderUpdate with
filled_quantity; PARTIAL when 0 < filled < quantity), ``step``,
``advance_to``, ``push_tick``, ``truth``, ``session_id``, ``notify(username,
message, priority)``. Errors: OrderRejected (placement
rejected, when ``EngineConfig.rejection_reply`` is ERROR), InvalidRequest
(unknown order/symbol, modify/cancel of a finished order),
TransientBrokerError / RateLimited (fault plan 5xx/429),
AmbiguousOrderError (placeorder timeout fault: the order exists),
BrokerTimeout (other timeouts).

``SimServer(sim, *, api_key=DEFAULT_API_KEY, host="127.0.0.1", http_port=0,
ws_port=0, auth_timeout=15.0, rate_limits=RateLimits(), pump=True)``:
``start() -> self``, ``stop()``, context manager, ``http_url``, ``ws_url``,
``http_port``, ``ws_port``, ``stats``. Prices arriving as JSON numbers are
read exactly as sent (``parse_float=Decimal``) so float noise is caught.

``GroundTruth`` (``sim.truth``): orders, working_orders, trades, positions,
net_position, funds, events, requests(endpoint=, symbol=),
``max_working_entries(symbol, action)``, ``unprotected_intervals(symbol)``,
``max_unprotected(symbol)``, ``off_grid_prices()`` - see live/sim/truth.py
for the exact definitions.

``FaultPlan`` (frozen; ``FaultPlan.from_yaml(path_or_text)``): Latency,
HttpError(500/429...), Timeout (applied, reply held), Reject, PartialFill,
UpdateFault (duplicate/delay/reorder), WsDrop, WsStall - see faults.py.

Matching rules, margin and rejections: live/sim/engine.py. The dev API key
``DEFAULT_API_KEY`` is a fixed local-simulator key, not a secret.

Standalone: ``python -m live.sim --port 5000 --ws-port 8765 [--api-key KEY]
[--symbols NSE:SBIN,NSE:INFY] [--scenarios ...] [--speed 60] [--seed N]
[--faults faults.yaml]``; or a synthetic market for scale runs:
``python -m live.sim --symbols-count 2000 --tick-rate 3 [--setup-share 0.05]
[--speed 1]`` (``SimDay.synthetic``: SYM0001.. random walks on the tick grid,
a share replaying 80-20 / ORB scenario days; ticks made lazily per time step).
The process keeps one Simulator - one session id, one order book - until it
exits, so clients may restart against it freely.

Scale: the pump applies due ticks in batches, the server fans them out from
one ordered outbox (ticks and order updates keep their order) and writes
each client's batch as plain WebSocket frames in one socket write; see
bench/bench_sim_feed.py for the numbers.
"""

from .broker import SimBroker
from .day import SCENARIOS, SetupLevels, SimDay, SymbolDay
from .engine import MatchingEngine, Modification, OrderStateError
from .faults import (
    FaultPlan,
    HttpError,
    Latency,
    PartialFill,
    Reject,
    Timeout,
    UpdateFault,
    WsDrop,
    WsStall,
)
from .models import (
    EngineConfig,
    EventKind,
    Notification,
    OrderEvent,
    OrderView,
    RejectionReply,
    RequestRecord,
    SimHolding,
    SimInstrument,
    SimTick,
    StopThroughMarket,
    Trade,
)
from .orb import ORB_KINDS, OrbLevels, orb_truth
from .ratelimit import RateLimits
from .server import DEFAULT_API_KEY, SimServer
from .simulator import Simulator
from .truth import GroundTruth, Interval

__all__ = [
    "DEFAULT_API_KEY",
    "SCENARIOS",
    "EngineConfig",
    "EventKind",
    "FaultPlan",
    "GroundTruth",
    "HttpError",
    "Interval",
    "Latency",
    "MatchingEngine",
    "Notification",
    "Modification",
    "OrderEvent",
    "OrderStateError",
    "ORB_KINDS",
    "OrbLevels",
    "OrderView",
    "PartialFill",
    "RateLimits",
    "Reject",
    "RejectionReply",
    "RequestRecord",
    "SetupLevels",
    "SimBroker",
    "SimDay",
    "SimHolding",
    "SimInstrument",
    "SimServer",
    "SimTick",
    "Simulator",
    "StopThroughMarket",
    "SymbolDay",
    "Timeout",
    "Trade",
    "UpdateFault",
    "WsDrop",
    "WsStall",
    "orb_truth",
]
