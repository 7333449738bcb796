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
from dataclasses import MISSING, dataclass, field, fields, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

from live.broker import PriceType, Product, split_key
from live.clock import IST
from live.execution.config import ExecConfig
from live.openalgo.feed import SubscribeForm
from live.ticks import to_decimal


class ConfigError(ValueError):
    """Every problem found in a config, one line each (``problems``), each
    naming its key and the fix: a user sees them all at once, not one per run."""

    def __init__(self, *problems: str) -> None:
        self.problems = tuple(
            line for p in problems for line in str(p).splitlines() if line.strip()
        )
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class BrokerConfig:
    kind: str = "sim"  # sim | openalgo | paper (live prices, paper book)
    host: str = "http://127.0.0.1:5000"
    ws_url: str = "ws://127.0.0.1:8765"
    api_key_env: str = "OPENALGO_API_KEY"
    api_key: str | None = field(default=None, repr=False)
    timeout_seconds: float = 5.0
    # How the feed subscribes: one message for every symbol ("list"), one per
    # symbol ("single", for servers that refuse the list form), or the list
    # falling back to one per symbol when it is refused ("auto").
    subscribe_mode: SubscribeForm = SubscribeForm.AUTO
    telegram_username: str | None = None  # alerts via OpenAlgo's telegram/notify
    # OpenAlgo's ORDER_RATE_LIMIT (orders per second; 10 unless the server's
    # .env raises it): our client paces order calls to it.
    order_rate: int = 10


@dataclass(frozen=True)
class ClockConfig:
    start: datetime | None = None
    speed: float = 1.0
    # Unix time at which the replay is at ``start``: to follow a simulator
    # that runs in another process (``python -m live.sim`` prints it).
    anchor: float | None = None


# Keys of the ``strategy:`` section the executor owns; every other key there
# belongs to the strategy named by ``strategy.name``, which validates it.
@dataclass(frozen=True)
class StrategySettings:
    name: str = "reversal_8020"
    quantity: int | None = 1
    capital_per_trade: Decimal | None = None
    max_attempts: int = 2
    entry_timeout_minutes: float = 30.0
    margin_rate: Decimal = Decimal("0.2")
    stop_retry_limit: int = 3
    stop_order_type: str = "SL-M"
    trail_step_r: Decimal = Decimal("0.25")
    emergency_stop_pct: Decimal = Decimal(1)
    product: str = "MIS"
    tag: str = "live8020"
    options: tuple[tuple[str, Any], ...] = ()  # the strategy's own keys, as written
    settings: Any = field(default=None, compare=False)  # ...as its ``settings()`` parsed them

    def exec_config(self) -> ExecConfig:
        return ExecConfig(
            quantity=None if self.capital_per_trade is not None else self.quantity,
            capital_per_trade=self.capital_per_trade,
            max_attempts=self.max_attempts,
            entry_timeout=timedelta(minutes=self.entry_timeout_minutes),
            margin_rate=self.margin_rate,
            product=Product(self.product),
            stop_price_type=PriceType(self.stop_order_type),
            entry_price_type=PriceType(self.stop_order_type),
            trail_step_r=self.trail_step_r,
            stop_retry_limit=self.stop_retry_limit,
            emergency_stop_pct=self.emergency_stop_pct,
            strategy_tag=self.tag,
        )


@dataclass(frozen=True)
class SessionSettings:
    entry_start: time = time(9, 15)
    entry_end: time = time(15, 0)
    exit_cutoff: time = time(15, 15)
    holidays: tuple[date, ...] = ()


@dataclass(frozen=True)
class RiskSettings:
    daily_loss_limit: Decimal = Decimal(5000)  # realized + open positions marked to market
    max_open_positions: int = 5
    kill_switch_file: str | None = None
    on_brake: str = "hold"  # hold | flatten: what a kill switch or the loss limit does to positions
    min_qty: int = 1
    max_qty: int | None = None

    def __post_init__(self) -> None:
        if self.daily_loss_limit <= 0:
            raise ValueError(f"risk.daily_loss_limit: must be > 0, got {self.daily_loss_limit}")
        if self.max_open_positions < 1:
            raise ValueError(
                f"risk.max_open_positions: must be >= 1, got {self.max_open_positions}"
            )
        if self.on_brake not in ("hold", "flatten"):
            raise ValueError(f"risk.on_brake: must be hold or flatten, got {self.on_brake!r}")
        if self.min_qty < 1:
            raise ValueError(f"risk.min_qty: must be >= 1, got {self.min_qty}")
        if self.max_qty is not None and self.max_qty < self.min_qty:
            raise ValueError(
                f"risk.max_qty: must be >= risk.min_qty ({self.min_qty}), got {self.max_qty}"
            )


@dataclass(frozen=True)
class SimSettings:
    seed: int = 8020
    cash: Decimal = Decimal(1_000_000)
    scenarios: tuple[tuple[str, str], ...] = ()  # (EXCHANGE:SYMBOL, scenario kind)
    api_key: str = "sim-local-key"


@dataclass(frozen=True)
class PaperSettings:
    # broker.kind: paper - the paper book's opening cash (rupees).
    funds: Decimal = Decimal(1_000_000)

    def __post_init__(self) -> None:
        if not self.funds.is_finite() or self.funds <= 0:
            raise ValueError(f"paper.funds: must be an amount > 0 in rupees, got {self.funds}")


@dataclass(frozen=True)
class ShutdownSettings:
    # On SIGINT/SIGTERM: False leaves each position protected by its working
    # stop; True closes it at market (also --flatten-on-exit).
    flatten_on_exit: bool = False
    timeout_seconds: float = 30.0  # wall seconds the stand-down may take


@dataclass(frozen=True)
class ChargesSettings:
    """Estimated Indian intraday equity charges (NSE, 2024-25 schedule).
    Percentages are of the order value; see README "Reports"."""

    brokerage_per_order: Decimal = Decimal(20)  # flat cap per executed order, rupees
    brokerage_pct: Decimal = Decimal("0.03")  # ... or this % of the order value if lower
    stt_sell_pct: Decimal = Decimal("0.025")  # securities transaction tax, sell side
    exchange_txn_pct: Decimal = Decimal("0.00297")  # NSE transaction charge, both sides
    sebi_per_crore: Decimal = Decimal(10)  # SEBI turnover fee, rupees per crore
    gst_pct: Decimal = Decimal(18)  # on brokerage + exchange + SEBI fees
    stamp_buy_pct: Decimal = Decimal("0.003")  # stamp duty, buy side

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) < 0:
                raise ValueError(f"charges.{f.name}: must be >= 0, got {getattr(self, f.name)}")


@dataclass(frozen=True)
class AlertSettings:
    # What goes to Telegram (through OpenAlgo's telegram/notify, when
    # broker.telegram_username is set) besides the log.
    stop_moved: bool = False  # every trailing move (chatty)
    disconnect_seconds: float = 30.0  # alert when the feed is down longer


@dataclass(frozen=True)
class LogSettings:
    rotate_daily: bool = True  # live8020.jsonl rolls over at midnight IST
    keep_days: int = 7  # rotated files kept

    def __post_init__(self) -> None:
        if self.keep_days < 1:
            raise ValueError(f"logs.keep_days: must be >= 1, got {self.keep_days}")


@dataclass(frozen=True)
class DispatchSettings:
    """How events reach the executors (live.dispatch)."""

    kind: str = "pool"  # pool | threads (one per symbol) | single (one FIFO worker)
    workers: int = 4  # pool threads: symbols whose broker calls may be in flight at once
    coalesce_after: float | None = 0.5  # seconds a tick may wait before stale ticks coalesce

    def __post_init__(self) -> None:
        if self.kind not in ("pool", "threads", "single"):
            raise ValueError(f"dispatch.kind: one of pool, threads, single; got {self.kind!r}")
        if isinstance(self.workers, bool) or not 1 <= self.workers <= 256:
            raise ValueError(f"dispatch.workers: a whole number in 1..256, got {self.workers!r}")
        if self.coalesce_after is not None and not self.coalesce_after > 0:
            raise ValueError(
                f"dispatch.coalesce_after: seconds > 0 (or null: never), got {self.coalesce_after!r}"
            )


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
    dispatch: DispatchSettings = DispatchSettings()
    tick_sizes: tuple[tuple[str, Decimal], ...] = ()  # per-symbol override
    poll_seconds: float = 5.0
    feed_stale_seconds: float = 10.0
    status_seconds: float = 1.0  # wall seconds between status.json snapshots
    shutdown: ShutdownSettings = ShutdownSettings()
    paper: PaperSettings = PaperSettings()
    charges: ChargesSettings = ChargesSettings()
    alerts: AlertSettings = AlertSettings()
    logs: LogSettings = LogSettings()

    def journal_path(self, *, dry_run: bool = False) -> Path:
        """The run's journal: a dry run and a paper run keep their own, so
        that their claims and orders never restore into a live run."""
        if dry_run:
            return self.data_dir / "dryrun-journal.db"
        return self.data_dir / ("paper-journal.db" if self.broker.kind == "paper" else "journal.db")

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
    "shutdown": ShutdownSettings,
    "paper": PaperSettings,
    "charges": ChargesSettings,
    "alerts": AlertSettings,
    "logs": LogSettings,
    "dispatch": DispatchSettings,
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
    "dispatch",
    "tick_sizes",
    "poll_seconds",
    "feed_stale_seconds",
    "status_seconds",
    "shutdown",
    "paper",
    "charges",
    "alerts",
    "logs",
}


def load_config(path: str | Path | None, registry: Any = None) -> Config:
    """The config file at ``path`` (None: every default), validated as a
    whole: a ConfigError lists every problem, one line each."""
    if path is None:
        return parse_config({}, registry)
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except IsADirectoryError:
        raise ConfigError(
            f"config: {p} is a directory; give the YAML file (--config PATH)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"config: cannot read {p}: {exc.strerror}; check --config") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config: {p} is not UTF-8 text; save it as UTF-8 YAML") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(_yaml_problem(p, exc)) from None
    if raw is None:
        raw = {}
    if isinstance(raw, dict) and "symbols" not in raw:
        # A file without symbols is a mistake, not a wish to trade the default.
        problem = "symbols: missing; list what to trade, e.g. symbols: [NSE:SBIN, NSE:INFY]"
        try:
            parse_config(raw, registry)
        except ConfigError as exc:
            raise ConfigError(problem, *exc.problems) from None
        raise ConfigError(problem)
    return parse_config(raw, registry)


def _yaml_problem(path: Path, exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or "cannot be parsed"
    if mark is None:
        return f"config: {path} is not valid YAML ({problem})"
    return (
        f"config: {path} is not valid YAML: line {mark.line + 1}, column {mark.column + 1}: "
        f"{problem}; "
        "check the indentation and brackets on that line or the one above"
    )


def parse_config(raw: Any, registry: Any = None) -> Config:
    """Validate a parsed YAML mapping, all of it: a ConfigError lists every
    problem found (one line each), not just the first. With ``registry`` (a
    ``live.strategy.Registry``) the strategy's own keys are validated too."""
    if not isinstance(raw, dict):
        raise ConfigError(
            "config: the top level must be a mapping of keys (broker:, symbols:, ...)"
        )
    problems: list[str] = list(_unknown(raw, _TOP, ""))
    kw: dict[str, Any] = {}

    def attempt(name: str, parse: Any, *args: Any) -> None:
        try:
            kw[name] = parse(*args)
        except ConfigError as exc:
            problems.extend(exc.problems)

    for name in _SECTIONS:
        if name in raw:
            attempt(name, _section, name, raw[name])
    if "symbols" in raw:
        attempt("symbols", _symbols, raw["symbols"])
    if "data_dir" in raw:
        attempt("data_dir", _data_dir, raw["data_dir"])
    if "tick_sizes" in raw:
        attempt("tick_sizes", _tick_sizes, raw["tick_sizes"])
    for name in ("poll_seconds", "feed_stale_seconds", "status_seconds"):
        if name in raw:
            attempt(name, _positive_float, name, raw[name])
    cfg = Config(**kw)
    problems.extend(_unused(raw, cfg, parsed=set(kw)))
    if cfg.broker.kind not in ("sim", "openalgo", "paper"):
        problems.append(
            f"broker.kind: must be 'sim', 'openalgo' or 'paper', got {cfg.broker.kind!r}"
        )
    if isinstance(cfg.broker.order_rate, bool) or not 3 <= cfg.broker.order_rate <= 10_000:
        problems.append(
            f"broker.order_rate: orders per second in 3..10000 (OpenAlgo's default is 10), "
            f"got {cfg.broker.order_rate!r}"
        )
    if cfg.broker.kind in ("openalgo", "paper"):
        for name, prefix in (("host", ("http://", "https://")), ("ws_url", ("ws://", "wss://"))):
            value = getattr(cfg.broker, name)
            if not value.startswith(prefix):
                problems.append(f"broker.{name}: {value!r} must start with {' or '.join(prefix)}")
    if registry is not None:
        # Checked even when the executor's keys had problems: all at once.
        strategy = cfg.strategy
        section = raw.get("strategy")
        if "strategy" not in kw and isinstance(section, dict):
            own = {f.name for f in fields(StrategySettings)} - {"options", "settings"}
            name = section.get("name", strategy.name)
            options = tuple((str(k), v) for k, v in section.items() if k not in own)
            strategy = replace(strategy, name=str(name), options=options)
        try:
            cfg = replace(cfg, strategy=_strategy_settings(strategy, registry))
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(*problems)
    return cfg


def _unused(raw: dict, cfg: Config, *, parsed: set[str]) -> list[str]:
    """Keys that parse but would have no effect: refused, so that nobody
    believes a setting is in force when it is not. (A section that failed
    to parse has its problems reported already.)"""
    out = []
    if "sim" in raw and cfg.broker.kind != "sim":
        out.append(
            f"sim: used only with broker.kind: sim (this config trades {cfg.broker.kind}); "
            "remove the sim: section"
        )
    if "paper" in raw and cfg.broker.kind != "paper":
        out.append(
            f"paper: used only with broker.kind: paper (this config trades {cfg.broker.kind}); "
            "remove the paper: section"
        )
    clock = raw.get("clock") if isinstance(raw.get("clock"), dict) else {}
    if "clock" in parsed and cfg.clock.start is None:
        for key in ("speed", "anchor"):
            if key in clock:
                out.append(
                    f"clock.{key}: used only with clock.start (a replay); "
                    "set clock.start or remove it"
                )
    strategy = raw.get("strategy") if isinstance(raw.get("strategy"), dict) else {}
    if "strategy" in parsed and "quantity" in strategy and cfg.strategy.capital_per_trade:
        out.append(
            "strategy.quantity: not with strategy.capital_per_trade (which sizes each order); "
            "keep one of them"
        )
    return out


def _data_dir(value: Any) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"data_dir: must be a directory path, e.g. ./data; got {value!r}")
    return Path(value).expanduser()


def _tick_sizes(ts: Any) -> tuple[tuple[str, Decimal], ...]:
    if not isinstance(ts, dict):
        raise ConfigError("tick_sizes: must map EXCHANGE:SYMBOL to a tick, e.g. {NSE:SBIN: 0.05}")
    pairs, problems = [], []
    for k, v in ts.items():
        try:
            sym, ex = split_key(str(k))
            tick = _dec(f"tick_sizes.{k}", v)
            if tick <= 0:
                raise ConfigError(f"tick_sizes.{k}: must be > 0, got {tick}")
            pairs.append((f"{ex}:{sym}", tick))
        except ConfigError as exc:
            problems.extend(exc.problems)
        except ValueError:
            problems.append(f"tick_sizes.{k}: the key must be EXCHANGE:SYMBOL, e.g. NSE:SBIN")
    if problems:
        raise ConfigError(*problems)
    return tuple(pairs)


def _unknown(raw: dict, known: set[str], where: str) -> list[str]:
    """One problem per key of ``raw`` not in ``known``, each with the closest
    known key (or the list of them)."""
    out = []
    for key in raw:
        if key not in known:
            hint = difflib.get_close_matches(str(key), sorted(known), n=1)
            tip = (
                f"; did you mean {hint[0]!r}?"
                if hint
                else f"; known keys: {', '.join(sorted(known))}"
            )
            out.append(f"{where}{key}: unknown key{tip}")
    return out


def _section(name: str, raw: Any) -> Any:
    cls = _SECTIONS[name]
    if raw is None:
        return cls()
    if not isinstance(raw, dict):
        raise ConfigError(f"{name}: must be a mapping, got {type(raw).__name__}")
    if name != "strategy":
        return parse_section(cls, raw, name, error=ConfigError)
    own = {f.name for f in fields(cls)} - {"options", "settings"}
    mine = {k: v for k, v in raw.items() if k in own}
    problems: list[str] = []
    try:
        settings = parse_section(cls, mine, name, error=ConfigError)
    except ConfigError as exc:
        problems.extend(exc.problems)
        settings = cls()
    extra = tuple((str(k), v) for k, v in raw.items() if k not in own)
    for key, _ in extra:
        # A typo of one of the executor's keys would silently become a key
        # for the strategy to refuse (or, without a registry, to ignore).
        near = difflib.get_close_matches(key, sorted(own), n=1, cutoff=0.85)
        if near:
            problems.append(f"strategy.{key}: unknown key; did you mean {near[0]!r}?")
    for where, value, allowed in (
        ("strategy.product", settings.product, [p.value for p in Product]),
        ("strategy.stop_order_type", settings.stop_order_type, ["SL", "SL-M"]),
    ):
        if value not in allowed:
            problems.append(f"{where}: {value!r} is not one of {', '.join(allowed)}")
    if problems:
        raise ConfigError(*problems)
    try:
        settings.exec_config()
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return replace(settings, options=extra)


def _strategy_settings(s: StrategySettings, registry: Any) -> StrategySettings:
    try:
        cls = registry.get(s.name)
        return replace(s, settings=cls.settings(dict(s.options)))
    except ValueError as exc:  # SettingsError names strategy.<key>
        raise ConfigError(str(exc)) from None


def _choice(where: str, value: str, allowed: list[str]) -> None:
    if value not in allowed:
        raise ConfigError(f"{where}: {value!r} is not one of {', '.join(allowed)}")


def parse_section(cls: type, raw: Any, where: str, *, error: type[Exception] = ValueError) -> Any:
    """Build the frozen dataclass ``cls`` from a config mapping: unknown keys
    refused with a suggestion, each value coerced to its field's type (from
    the default and the annotation), every message naming ``where.key``.
    Every problem is reported, one line each of the raised ``error``."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise error(f"{where}: must be a mapping, got {type(raw).__name__}")
    known = {f.name: f for f in fields(cls)}
    problems = _unknown(raw, set(known), f"{where}.")
    kw: dict[str, Any] = {}
    for key, value in raw.items():
        f = known.get(key)
        if f is None:
            continue
        default = f.default if f.default is not MISSING else None
        try:
            kw[key] = _coerce(f"{where}.{key}", key, value, default, str(f.type))
        except ConfigError as exc:
            problems.extend(exc.problems)
    try:
        # Built from the good keys even when others failed: its own checks
        # (ranges, one key against another) are reported in the same go.
        built = cls(**kw)
    except (TypeError, ValueError) as exc:
        text = str(exc)
        problems.append(text if text.startswith(f"{where}.") else f"{where}: {text}")
    if problems:
        raise error("\n".join(problems))
    return built


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
    if isinstance(default, Enum):
        try:
            return type(default)(value)
        except ValueError:
            allowed = ", ".join(str(m.value) for m in type(default))
            raise ConfigError(f"{where}: {value!r} is not one of {allowed}") from None
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
    if isinstance(default, float) or annotation.startswith("float"):
        return None if value is None else _positive_float(where, value)
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
