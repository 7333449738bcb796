"""Bad input to the endpoints OpenAlgo's sample strategies use
(placesmartorder, multiquotes, depth, holdings, analyzer): each gets the
server's error reply naming the field (marshmallow's messages: a string for
the order and analyzer resources, the mapping itself for the data ones),
over a real loopback socket, and changes nothing in the book."""

from __future__ import annotations

import pytest
import requests
from openalgo import api

from .conftest import KEY, at

SMART = {"strategy": "s", "symbol": "SBIN", "exchange": "NSE", "action": "BUY",
         "quantity": "1", "position_size": "5"}  # fmt: skip
MISSING = ["Missing data for required field."]
EXCHANGES = [
    "Must be one of: NSE, NFO, CDS, BSE, BFO, BCD, MCX, NCDEX, NCO, NSE_INDEX, BSE_INDEX, "
    "MCX_INDEX, GLOBAL_INDEX, CRYPTO."
]


def without(d: dict, name: str) -> dict:
    return {k: v for k, v in d.items() if k != name}


CASES = [
    # (endpoint, body, http status, the reply's message)
    ("placesmartorder", without(SMART, "position_size"), 400,
     str({"position_size": MISSING})),
    ("placesmartorder", without(SMART, "symbol"), 400, str({"symbol": MISSING})),
    ("placesmartorder", {**SMART, "action": "HOLD"}, 400,
     str({"action": ["Must be one of: BUY, SELL."]})),
    ("placesmartorder", {**SMART, "position_size": "ten"}, 400,
     str({"position_size": ["Not a valid number."]})),
    ("placesmartorder", {**SMART, "exchange": "XX"}, 400, str({"exchange": EXCHANGES})),
    ("multiquotes", {}, 400, {"symbols": MISSING}),
    ("multiquotes", {"symbols": []}, 400, {"symbols": ["Shorter than minimum length 1."]}),
    ("multiquotes", {"symbols": [{"symbol": "SBIN", "exchange": "NSE"}, {"exchange": "NSE"}]},
     400, {"symbols": {"1": {"symbol": MISSING}}}),
    ("multiquotes", {"symbols": [{"symbol": "SBIN", "exchange": "XX"}]}, 400,
     {"symbols": {"0": {"exchange": EXCHANGES}}}),
    ("depth", {"symbol": "SBIN"}, 400, {"exchange": MISSING}),
    ("depth", {"exchange": "NSE"}, 400, {"symbol": MISSING}),
    ("depth", {"symbol": "SBIN", "exchange": "nse"}, 400, {"exchange": EXCHANGES}),
    ("analyzer/toggle", {}, 400, str({"mode": MISSING})),
    ("analyzer/toggle", {"mode": "maybe"}, 400, str({"mode": ["Not a valid boolean."]})),
]  # fmt: skip


@pytest.mark.parametrize(("endpoint", "body", "status", "message"), CASES)
def test_bad_input_is_refused_naming_the_field(serve, endpoint, body, status, message):
    srv = serve()
    srv.sim.advance_to(at("09:20"))
    r = requests.post(f"{srv.http_url}/api/v1/{endpoint}", json={"apikey": KEY, **body}, timeout=5)
    assert r.status_code == status
    assert r.json() == {"status": "error", "message": message}
    assert srv.sim.engine.orders() == [] and srv.sim.analyze_mode is False


@pytest.mark.parametrize("endpoint", ["holdings", "analyzer", "placesmartorder", "depth"])
def test_a_missing_or_wrong_api_key_is_named(serve, endpoint):
    srv = serve()
    url = f"{srv.http_url}/api/v1/{endpoint}"
    r = requests.post(url, json={}, timeout=5)
    assert r.status_code == 400
    assert r.json()["message"] == str({"apikey": MISSING})
    r = requests.post(url, json={"apikey": "wrong"}, timeout=5)
    assert (r.status_code, r.json()["message"]) == (403, "Invalid openalgo apikey")
    assert srv.sim.engine.orders() == []


def test_an_unknown_symbol_is_named_with_the_fix(serve):
    srv = serve()
    srv.sim.advance_to(at("09:20"))
    r = requests.post(
        f"{srv.http_url}/api/v1/depth",
        json={"apikey": KEY, "symbol": "NOPE", "exchange": "NSE"},
        timeout=5,
    )
    assert r.status_code == 400
    assert r.json()["message"] == (
        "Symbol 'NOPE' not found for exchange 'NSE'. Please verify the symbol name and "
        "ensure master contracts are downloaded."
    )
    r = requests.post(
        f"{srv.http_url}/api/v1/placesmartorder",
        json={"apikey": KEY, **SMART, "symbol": "NOPE"},
        timeout=5,
    )
    assert r.status_code == 404 and "NOPE" in r.json()["message"]
    assert srv.sim.engine.orders() == []


def test_what_an_sdk_user_sees_names_the_field(serve):
    # SDK 1.0.47 turns a non-200 reply into {"message": "HTTP <code>: <body>"}.
    srv = serve()
    srv.sim.advance_to(at("09:20"))
    c = api(api_key=KEY, host=srv.http_url, timeout=5)
    r = c.depth(symbol="SBIN", exchange="XX")
    assert (r["code"], r["error_type"]) == (400, "http_error")
    assert '"exchange"' in r["message"] and "Must be one of" in r["message"]
    r = c.multiquotes(symbols=[{"exchange": "NSE"}])
    assert r["code"] == 400 and '"symbol"' in r["message"] and "Missing data" in r["message"]
    r = c.placesmartorder(symbol="SBIN", action="HOLD", exchange="NSE", position_size=1)
    assert r["code"] == 400 and "'action'" in r["message"]
    r = c.analyzertoggle(mode="maybe")
    assert r["code"] == 400 and "'mode'" in r["message"] and "Not a valid boolean" in r["message"]
    assert srv.sim.engine.orders() == [] and srv.sim.analyze_mode is False
