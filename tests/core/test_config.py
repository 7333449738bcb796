"""config.yaml: the run contract's keys alone are valid; bad lines are named."""

from __future__ import annotations

from decimal import Decimal

import pytest

from live.config import Config, ConfigError, load_config, parse_config

CONTRACT = """
broker:
  kind: openalgo
  host: http://127.0.0.1:5000
  ws_url: ws://127.0.0.1:8765
  api_key_env: OPENALGO_API_KEY
symbols: [NSE:SBIN, NSE:INFY]
clock:
  start: "2026-11-20T09:14:00+05:30"
  speed: 60
data_dir: ./data
"""


def test_the_run_contract_alone_is_valid(tmp_path, monkeypatch):
    p = tmp_path / "c.yaml"
    p.write_text(CONTRACT)
    cfg = load_config(p)
    assert cfg.broker.kind == "openalgo" and cfg.symbols == ("NSE:SBIN", "NSE:INFY")
    assert cfg.clock.speed == 60 and cfg.clock.start.utcoffset().total_seconds() == 19800
    monkeypatch.setenv("OPENALGO_API_KEY", "k-123456")
    assert cfg.api_key() == "k-123456"
    assert "k-123456" not in repr(cfg)


def test_shipped_default_config_is_valid():
    cfg = load_config("config.yaml")
    assert cfg.broker.kind == "sim" and cfg.clock.start is not None


def test_missing_key_in_environment_says_what_to_export(monkeypatch):
    monkeypatch.delenv("OPENALGO_API_KEY", raising=False)
    cfg = parse_config({"broker": {"kind": "openalgo"}})
    with pytest.raises(ConfigError, match="export OPENALGO_API_KEY"):
        cfg.api_key()


def test_decimals_stay_exact():
    cfg = parse_config({"tick_sizes": {"NSE:SBIN": 0.05}, "strategy": {"margin_rate": 0.2}})
    assert dict(cfg.tick_sizes)["NSE:SBIN"] == Decimal("0.05")
    assert cfg.strategy.margin_rate == Decimal("0.2")


@pytest.mark.parametrize(
    "raw,msg",
    [
        ({"brokr": {}}, "brokr: unknown key; did you mean 'broker'"),
        ({"symbols": ["NSE-SBIN"]}, r"symbols\[0\]: .* EXCHANGE:SYMBOL"),
        ({"symbols": "NSE:SBIN"}, "symbols: must be a non-empty list"),
        ({"symbols": ["NSE:SBIN", "nse:sbin"]}, "listed twice"),
        ({"clock": {"start": "2026-11-20T09:14:00"}}, "clock.start: .* no UTC offset"),
        ({"clock": {"speed": 0}}, "clock.speed: must be > 0"),
        ({"broker": {"kind": "zerodha"}}, "broker.kind: must be 'sim', 'openalgo' or 'paper'"),
        ({"broker": {"kind": "openalgo", "host": "127.0.0.1:5000"}}, "broker.host: .* http"),
        ({"broker": {"kind": "paper", "ws_url": "http://127.0.0.1:8765"}}, "broker.ws_url: .* ws"),
        ({"paper": {"funds": 0}}, "paper.funds: must be an amount > 0"),
        ({"paper": {"funds": "lots"}}, "paper.funds"),
        ({"paper": {"fund": 100000}}, "paper.fund: unknown key; did you mean 'funds'"),
        ({"strategy": {"quantity": 1.5}}, "strategy.quantity: must be a whole number"),
        ({"strategy": {"max_atempts": 2}}, "did you mean 'max_attempts'"),
        ({"strategy": {"margin_rate": "abc"}}, "strategy.margin_rate"),
        ({"session": {"exit_cutoff": "3pm"}}, "session.exit_cutoff: .* HH:MM"),
        ({"session": {"holidays": ["26/01/2026"]}}, "YYYY-MM-DD"),
        ({"tick_sizes": {"NSE:SBIN": 0}}, "tick_sizes.NSE:SBIN: must be > 0"),
        ({"poll_seconds": -5}, "poll_seconds: must be > 0"),
        ([1, 2], "top level must be a mapping"),
    ],
)
def test_bad_lines_are_named_with_the_fix(raw, msg):
    with pytest.raises(ConfigError, match=msg):
        parse_config(raw)


def test_unreadable_and_invalid_yaml(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("broker: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_a_file_without_symbols_is_refused_not_trading_a_default(tmp_path):
    p = tmp_path / "empty.yaml"
    p.write_text("")
    with pytest.raises(ConfigError, match="symbols: missing; list what to trade"):
        load_config(p)
    p.write_text("symbols: [NSE:SBIN]\n")
    assert load_config(p) == Config()


def test_every_problem_is_reported_at_once_one_line_each():
    from strategies import REGISTRY

    raw = {
        "brokr": {},
        "symbols": ["NSE-SBIN"],
        "broker": {"subscribe_mode": "bogus"},
        "risk": {"max_open_positions": 0, "min_qty": "a"},
        "strategy": {"product": "CASH", "penetration": {"kind": "bogus", "value": 3}},
        "clock": {"speed": 60},
    }
    with pytest.raises(ConfigError) as err:
        parse_config(raw, REGISTRY)
    assert err.value.problems == (
        "brokr: unknown key; did you mean 'broker'?",
        "broker.subscribe_mode: 'bogus' is not one of auto, list, single",
        "strategy.product: 'CASH' is not one of MIS, CNC, NRML",
        "risk.min_qty: must be a whole number, got 'a'",
        "risk.max_open_positions: must be >= 1, got 0",
        "symbols[0]: 'NSE-SBIN' must be EXCHANGE:SYMBOL, e.g. NSE:SBIN",
        "clock.speed: used only with clock.start (a replay); set clock.start or remove it",
        "strategy.penetration.kind: 'bogus' is not one of ticks, percent, range",
    )
    assert str(err.value) == "\n".join(err.value.problems)


@pytest.mark.parametrize(
    "raw,msg",
    [
        (
            {"broker": {"kind": "openalgo"}, "sim": {"seed": 1}},
            "sim: used only with broker.kind: sim",
        ),
        ({"strategy": {"quantity": 5, "capital_per_trade": 10000}}, "strategy.quantity: not with"),
        ({"clock": {"anchor": 1.0}}, "clock.anchor: used only with clock.start"),
    ],
)
def test_keys_that_would_have_no_effect_are_refused(raw, msg):
    with pytest.raises(ConfigError, match=msg):
        parse_config(raw)


def test_subscribe_mode_reaches_the_feed_as_its_form():
    from live.openalgo.feed import SubscribeForm

    assert parse_config({"broker": {"subscribe_mode": "single"}}).broker.subscribe_mode is (
        SubscribeForm.SINGLE
    )


def test_a_strategy_declares_its_keys_and_the_config_checks_them_without_knowing_it():
    from dataclasses import dataclass

    from live.strategy import Registry, Strategy

    @dataclass(frozen=True)
    class TinySettings:
        lookback: int = 5
        band: Decimal = Decimal("0.5")

    class Tiny(Strategy):
        name = "tiny"
        Settings = TinySettings

        @classmethod
        def check_settings(cls, s):
            return [f"strategy.lookback: must be >= 1, got {s.lookback}"] if s.lookback < 1 else []

    class Bare(Strategy):
        name = "bare"

    registry = Registry({"tiny": Tiny, "bare": Bare})
    cfg = parse_config({"strategy": {"name": "tiny", "lookback": 3, "band": 0.25}}, registry)
    assert cfg.strategy.settings == TinySettings(3, Decimal("0.25"))
    with pytest.raises(ConfigError) as err:
        parse_config({"strategy": {"name": "tiny", "lookbak": 3, "band": "wide"}}, registry)
    assert err.value.problems == (
        "strategy.lookbak: unknown key; did you mean 'lookback'?",
        "strategy.band: 'wide' is not a number",
    )
    with pytest.raises(ConfigError, match=r"^strategy.lookback: must be >= 1, got 0$"):
        parse_config({"strategy": {"name": "tiny", "lookback": 0}}, registry)
    with pytest.raises(ConfigError) as err:
        parse_config({"strategy": {"name": "bare", "x": 1, "y": 2}}, registry)
    assert [p.split(":")[0] for p in err.value.problems] == ["strategy.x", "strategy.y"]
    assert "takes no keys of its own" in err.value.problems[0]


def test_orb_reports_every_range_problem_at_once():
    from strategies import REGISTRY

    raw = {"strategy": {"name": "orb", "range_minutes": 0, "buffer_ticks": -1, "stop_r": 0}}
    with pytest.raises(ConfigError) as err:
        parse_config(raw, REGISTRY)
    assert err.value.problems == (
        "strategy.range_minutes: must be 1..120, got 0",
        "strategy.buffer_ticks: must be >= 0, got -1",
        "strategy.stop_r: must be > 0, got 0",
    )
