"""config.yaml -> frozen, validated settings.

A config holding only the keys of DESIGN.md's run contract is valid; every
other key has a default. A bad line is refused with a message that names the
key and says what would be right, before anything connects or trades.
The API key itself is never read from here unless the user put it there
explicitly; the normal place is the environment variable named by
``broker.api_key_env``.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from live.broker import split_key
from live.clock import IST
from live.ticks import to_decimal


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class BrokerConfig:
    kind: str = "sim"
    host: str = "http://127.0.0.1:5000"
    ws_url: str = "ws://127.0.0.1:8765"
    api_key_env: str = "OPENALGO_API_KEY"
    api_key: str | None = field(default=None, repr=False)
    timeout_seconds: float = 5.0
    subscribe_mode: str = "auto"  # auto | list | per_symbol
    telegram_username: str | None = None  # alerts via OpenAlgo's telegram/notify


@dataclass(frozen=True)
class ClockConfig:
    start: datetime | None = None
    speed: float = 1.0


@dataclass(frozen=True)
class StrategySettings:
    quantity: int | None = 1
    capital_per_trade: Decimal | None = None
    max_attempts: int = 2
    entry_timeout_minutes: float = 30
    margin_rate: Decimal = Decimal("0.2")
    trail_start_r: Decimal = Decimal(2)
    trail_distance_r: Decimal = Decimal(2)
    stop_retry_limit: int = 3
    stop_order_type: str = "SL-M"
    open_pct: Decimal = Decimal(20)
    close_pct: Decimal = Decimal(20)
    penetration_kind: str = "ticks"
    penetration_value: Decimal = Decimal(5)
    stop_buffer_ticks: int = 1
    product: str = "MIS"
    tag: str = "live8020"


@dataclass(frozen=True)
class SessionSettings:
    entry_start: time = time(9, 15)
    entry_end: time = time(15, 0)
    exit_cutoff: time = time(15, 15)
    holidays: tuple[date, ...] = ()


@dataclass(frozen=True)
class RiskSettings:
    daily_loss_limit: Decimal = Decimal(5000)
    max_open_positions: int = 5
    kill_switch_file: str | None = None


@dataclass(frozen=True)
class SimSettings:
    seed: int = 8020
    cash: Decimal = Decimal(1_000_000)
    scenarios: tuple[tuple[str, str], ...] = ()  # (EXCHANGE:SYMBOL, scenario kind)
    api_key: str = "sim-local-key"


@dataclass(frozen=True)
class Config:
    broker: BrokerConfig = BrokerConfig()
    symbols: tuple[str, ...] = ("NSE:SBIN",)
    clock: ClockConfig = ClockConfig()
    data_dir: Path = Path("./data")
    strategy: StrategySettings = StrategySettings()
    session: SessionSettings = SessionSettings()
    risk: RiskSettings = RiskSettings()
    sim: SimSettings = SimSettings()
    tick_sizes: tuple[tuple[str, Decimal], ...] = ()  # per-symbol override
    poll_seconds: float = 5.0
    feed_stale_seconds: float = 10.0

    def api_key(self) -> str:
        """The key from the environment (or the config, if put there). Never logged."""
        if self.broker.kind == "sim":
            return self.broker.api_key or self.sim.api_key
        key = self.broker.api_key or os.environ.get(self.broker.api_key_env, "")
        if not key:
            raise ConfigError(
                f"broker: no API key; export {self.broker.api_key_env}=<your OpenAlgo API key> "
                "(or set broker.api_key_env to the variable that holds it)"
            )
        return key


_SECTIONS = {
    "broker": BrokerConfig,
    "clock": ClockConfig,
    "strategy": StrategySettings,
    "session": SessionSettings,
    "risk": RiskSettings,
    "sim": SimSettings,
}
_TOP = {
    "broker",
    "symbols",
    "clock",
    "data_dir",
    "strategy",
    "session",
    "risk",
    "sim",
    "tick_sizes",
    "poll_seconds",
    "feed_stale_seconds",
}


def load_config(path: str | Path | None) -> Config:
    if path is None:
        return Config()
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"config: cannot read {p}: {exc.strerror}") from None
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config: {p} is not valid YAML: {exc}") from None
    return parse_config(raw)


def parse_config(raw: Any) -> Config:
    if not isinstance(raw, dict):
        raise ConfigError(
            "config: the top level must be a mapping of keys (broker:, symbols:, ...)"
        )
    _unknown(raw, _TOP, "")
    kw: dict[str, Any] = {}
    for name in ("broker", "clock", "strategy", "session", "risk", "sim"):
        if name in raw:
            kw[name] = _section(name, raw[name])
    if "symbols" in raw:
        kw["symbols"] = _symbols(raw["symbols"])
    if "data_dir" in raw:
        kw["data_dir"] = Path(str(raw["data_dir"]))
    if "tick_sizes" in raw:
        ts = raw["tick_sizes"]
        if not isinstance(ts, dict):
            raise ConfigError(
                "tick_sizes: must map EXCHANGE:SYMBOL to a tick, e.g. {NSE:SBIN: 0.05}"
            )
        pairs = []
        for k, v in ts.items():
            sym, ex = split_key(str(k))
            tick = _dec(f"tick_sizes.{k}", v)
            if tick <= 0:
                raise ConfigError(f"tick_sizes.{k}: must be > 0, got {tick}")
            pairs.append((f"{ex}:{sym}", tick))
        kw["tick_sizes"] = tuple(pairs)
    for name in ("poll_seconds", "feed_stale_seconds"):
        if name in raw:
            kw[name] = _positive_float(name, raw[name])
    cfg = Config(**kw)
    if cfg.broker.kind not in ("sim", "openalgo"):
        raise ConfigError(f"broker.kind: must be 'sim' or 'openalgo', got {cfg.broker.kind!r}")
    if cfg.broker.kind == "openalgo":
        for name, prefix in (("host", ("http://", "https://")), ("ws_url", ("ws://", "wss://"))):
            value = getattr(cfg.broker, name)
            if not value.startswith(prefix):
                raise ConfigError(f"broker.{name}: {value!r} must start with {' or '.join(prefix)}")
    return cfg


def _unknown(raw: dict, known: set[str], where: str) -> None:
    for key in raw:
        if key not in known:
            hint = difflib.get_close_matches(str(key), sorted(known), n=1)
            tip = (
                f"; did you mean {hint[0]!r}?"
                if hint
                else f"; known keys: {', '.join(sorted(known))}"
            )
            raise ConfigError(f"{where}{key}: unknown key{tip}")


def _section(name: str, raw: Any) -> Any:
    cls = _SECTIONS[name]
    if raw is None:
        return cls()
    if not isinstance(raw, dict):
        raise ConfigError(f"{name}: must be a mapping, got {type(raw).__name__}")
    fields = cls.__dataclass_fields__
    extra = {"penetration"} if name == "strategy" else set()  # a nested mapping of two fields
    _unknown(raw, set(fields) | extra, f"{name}.")
    kw: dict[str, Any] = {}
    for key, value in raw.items():
        where = f"{name}.{key}"
        if name == "strategy" and key == "penetration":
            if not isinstance(value, dict) or set(value) - {"kind", "value"}:
                raise ConfigError(f"{where}: give {{kind: ticks|percent|range, value: N}}")
            if "kind" in value:
                kw["penetration_kind"] = str(value["kind"])
            if "value" in value:
                kw["penetration_value"] = _dec(f"{where}.value", value["value"])
            continue
        default = getattr(cls(), key)
        kw[key] = _coerce(where, key, value, default, fields[key].type)
    try:
        return cls(**kw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}: {exc}") from None


def _coerce(where: str, key: str, value: Any, default: Any, annotation: str) -> Any:
    if key == "start":
        return _aware(where, value)
    if key == "holidays":
        if not isinstance(value, list):
            raise ConfigError(f"{where}: must be a list of dates (YYYY-MM-DD)")
        out = []
        for v in value:
            try:
                out.append(v if isinstance(v, date) else date.fromisoformat(str(v)))
            except ValueError:
                raise ConfigError(f"{where}: {v!r} is not a date; write YYYY-MM-DD") from None
        return tuple(out)
    if key == "scenarios":
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: must map EXCHANGE:SYMBOL to a scenario name")
        return tuple((str(k), str(v)) for k, v in value.items())
    if isinstance(default, time):
        try:
            return value if isinstance(value, time) else time.fromisoformat(str(value))
        except ValueError:
            raise ConfigError(f"{where}: {value!r} is not a time; write HH:MM") from None
    if isinstance(default, Decimal) or "Decimal" in annotation:
        return None if value is None else _dec(where, value)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: must be true or false")
        return value
    if isinstance(default, int) or annotation.startswith("int"):
        if value is None and "None" in annotation:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: must be a whole number, got {value!r}")
        return value
    if isinstance(default, float):
        return _positive_float(where, value)
    if value is None:
        return None
    return str(value)


def _dec(where: str, value: Any) -> Decimal:
    try:
        # YAML gives floats for 0.05; its text is what the user wrote.
        return to_decimal(str(value) if isinstance(value, float) else value, where)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _positive_float(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}: must be a number, got {value!r}")
    if value <= 0:
        raise ConfigError(f"{where}: must be > 0, got {value}")
    return float(value)


def _aware(where: str, value: Any) -> datetime:
    try:
        ts = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(
            f'{where}: {value!r} is not a timestamp; write e.g. "2026-11-20T09:14:00+05:30"'
        ) from None
    if ts.tzinfo is None:
        raise ConfigError(f"{where}: {value!r} has no UTC offset; add +05:30 for IST")
    return ts.astimezone(IST)


def _symbols(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ConfigError("symbols: must be a non-empty list like [NSE:SBIN, NSE:INFY]")
    out = []
    for i, item in enumerate(value):
        try:
            sym, ex = split_key(str(item))
        except ValueError:
            raise ConfigError(
                f"symbols[{i}]: {item!r} must be EXCHANGE:SYMBOL, e.g. NSE:SBIN"
            ) from None
        key = f"{ex}:{sym}"
        if key in out:
            raise ConfigError(f"symbols: {key} is listed twice")
        out.append(key)
    return tuple(out)
