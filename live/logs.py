"""Structured logging: one JSON object per line, a readable console, ``tail``.

Every engine event goes through ``log_event("ORDER_PLACED", symbol=..., **fields)``
on the stdlib logger ``live8020`` (so pytest's ``caplog`` sees it). The record
carries the event payload; ``JsonLinesFormatter`` writes it as one JSON line and
``ConsoleFormatter`` as ``time level EVENT SYMBOL key=value ...``.

Redaction happens *before* the record is created, so no handler (the file, the
console, caplog, a user's own) ever sees a secret: fields whose name looks like
a credential become ``"***"`` and every registered secret value is masked
wherever it appears in a string.

``python -m live.logs tail [--symbol SBIN] [--event 'ORDER_*'] [--no-follow]``
prints the JSON-lines log readably.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import io
import json
import logging
import os
import re
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, TextIO

from live.clock import IST, Clock

LOGGER_NAME = "live8020"
DEFAULT_JSON_FILE = "live8020.jsonl"
DEFAULT_DATA_DIR = Path("./data")
MASK = "***"
_EVENT_WORD = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")
# Engine modules that log with plain ``logging.getLogger(__name__)`` (the
# OpenAlgo adapter and feed, the simulator): into the same JSON-lines log.
PLAIN_LOGGERS = ("live",)

# Field names containing any of these (case-insensitive) are credentials.
_SECRET_NAME_PARTS = ("apikey", "api_key", "api-key", "secret", "token", "password")

logger = logging.getLogger(LOGGER_NAME)

_secrets_lock = threading.Lock()
_secrets: tuple[str, ...] = ()  # longest first, so a secret containing another masks whole
_clock: Clock | None = None


# --- redaction ----------------------------------------------------------------


def register_secret(value: str) -> None:
    """Mask ``value`` wherever it appears in any later log output.

    Values shorter than 4 characters are refused: masking "a" would shred every
    message and signals a wiring mistake (the wrong variable registered)."""
    global _secrets
    if not isinstance(value, str):
        raise ValueError(f"secret: must be a str, got {type(value).__name__}")
    if len(value) < 4:
        raise ValueError("secret: shorter than 4 characters; register the real key/password")
    with _secrets_lock:
        if value not in _secrets:
            _secrets = tuple(sorted((*_secrets, value), key=len, reverse=True))


def clear_secrets() -> None:
    """Forget registered secrets (tests)."""
    global _secrets
    with _secrets_lock:
        _secrets = ()


def is_secret_name(name: str) -> bool:
    low = name.lower()
    return any(part in low for part in _SECRET_NAME_PARTS)


def mask_secrets(text: str) -> str:
    for s in _secrets:  # a tuple snapshot: safe to read without the lock
        if s in text:
            text = text.replace(s, MASK)
    return text


def _jsonable(value: Any, depth: int = 0) -> Any:
    """Turn a field value into JSON-ready data: Decimal -> str, datetime -> ISO
    IST, enum -> value, dataclass -> dict; strings have secrets masked."""
    if depth > 8:
        return mask_secrets(repr(value))
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        # Floats are allowed in logs (latencies, ratios) but never money.
        return (
            value if value == value and value not in (float("inf"), float("-inf")) else str(value)
        )
    if isinstance(value, Enum):  # before str: str-valued enums are str too
        return _jsonable(value.value, depth + 1)
    if isinstance(value, str):
        return mask_secrets(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None and value.tzinfo.utcoffset(value) is not None:
            value = value.astimezone(IST)
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Path):
        return mask_secrets(str(value))
    if isinstance(value, BaseException):
        return mask_secrets(f"{type(value).__name__}: {value}")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _redact_mapping(
            {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}, depth + 1
        )
    if isinstance(value, Mapping):
        return _redact_mapping(value, depth + 1)
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [_jsonable(v, depth + 1) for v in items]
    return mask_secrets(str(value))


def _redact_mapping(fields: Mapping[Any, Any], depth: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in fields.items():
        name = str(k)
        out[name] = MASK if is_secret_name(name) else _jsonable(v, depth)
    return out


# --- emitting -----------------------------------------------------------------


def set_clock(clock: Clock | None) -> None:
    """Use ``clock`` for event timestamps (a ReplayClock in a replayed session);
    ``None`` returns to the wall clock."""
    global _clock
    _clock = clock


def _now() -> datetime:
    c = _clock
    return c.now().astimezone(IST) if c is not None else datetime.now(IST)


def log_event(
    event: str, *, symbol: str | None = None, level: int = logging.INFO, **fields: Any
) -> dict[str, Any]:
    """Emit one structured event and return the (redacted) payload.

    ``ts`` in ``fields``, if an aware datetime, is the event time (market time
    in a replay); otherwise the injected clock or the wall clock gives it."""
    if not isinstance(event, str) or not event:
        raise ValueError("event: must be a non-empty string such as 'ORDER_PLACED'")
    ts = fields.pop("ts", None)
    if not (isinstance(ts, datetime) and ts.tzinfo is not None):
        if ts is not None:
            fields["event_ts"] = ts  # keep what the caller gave, but never as the record time
        ts = _now()
    payload: dict[str, Any] = {
        "ts": _jsonable(ts),
        "level": logging.getLevelName(level),
        "event": mask_secrets(event),
        "symbol": None if symbol is None else mask_secrets(str(symbol)),
    }
    # event/symbol/level are parameters and ts was popped: no field can
    # shadow the envelope.
    payload.update(_redact_mapping(fields))
    if _clock is not None:
        # A replay stamps events in market time; when it happened on the wall:
        payload["wall_ts"] = datetime.now(IST).isoformat()
    if logger.isEnabledFor(level):
        logger.log(level, format_payload(payload, with_date=False), extra={"live_event": payload})
    return payload


class RedactingFilter(logging.Filter):
    """For plain ``logging`` calls on engine loggers (``get_logger``): masks
    registered secrets in the final message before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _secrets:
            return True
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when set: the traceback is masked once
            # here for every handler (file, console, caplog).
            record.exc_text = mask_secrets(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = mask_secrets(record.stack_info)
        if getattr(record, "live_event", None) is None:
            try:
                msg = record.getMessage()
            except Exception:  # a bad %-format must not kill logging
                msg = f"{record.msg!r} % {record.args!r}"
            masked = mask_secrets(msg)
            if masked != msg or record.args:
                record.msg, record.args = masked, None
        return True


_redacting_filter = RedactingFilter()
logger.addFilter(_redacting_filter)


def get_logger(name: str | None = None) -> logging.Logger:
    """An engine logger (``live8020`` or ``live8020.<name>``) whose plain
    messages are secret-masked."""
    lg = logger if not name else logging.getLogger(f"{LOGGER_NAME}.{name}")
    if _redacting_filter not in lg.filters:
        lg.addFilter(_redacting_filter)
    return lg


# --- formatting ---------------------------------------------------------------


def _fmt_value(v: Any) -> str:
    if isinstance(v, str):
        return v if v and not any(c.isspace() for c in v) else json.dumps(v, ensure_ascii=False)
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


def format_payload(obj: Mapping[str, Any], *, with_date: bool = True) -> str:
    """One readable line: ``2026-11-20 09:15:02.123 INFO ORDER_PLACED NSE:SBIN k=v``."""
    ts = str(obj.get("ts", ""))
    try:
        dt = datetime.fromisoformat(ts)
        stamp = dt.strftime("%Y-%m-%d %H:%M:%S.%f" if with_date else "%H:%M:%S.%f")[:-3]
    except ValueError:
        stamp = ts or "-"
    parts = [stamp, f"{obj.get('level', '-')!s:<7}", str(obj.get("event", "-"))]
    if obj.get("symbol"):
        parts.append(str(obj["symbol"]))
    skip = {"ts", "level", "event", "symbol", "wall_ts", "logger"}
    parts.extend(f"{k}={_fmt_value(v)}" for k, v in obj.items() if k not in skip)
    return " ".join(parts)


def _record_payload(record: logging.LogRecord) -> dict[str, Any]:
    payload = getattr(record, "live_event", None)
    if payload is not None:
        return payload
    msg = mask_secrets(record.getMessage())
    # The adapter and feed log "FEED_DISCONNECTED ws://...: reason": the
    # first word is the event, so tail --event and alerts can find it.
    head, _, rest = msg.partition(" ")
    event = head if _EVENT_WORD.fullmatch(head) else "LOG"
    wall = datetime.fromtimestamp(record.created, IST)
    out: dict[str, Any] = {
        "ts": (_now() if _clock is not None else wall).isoformat(),
        "level": record.levelname,
        "event": event,
        "symbol": None,
        "logger": record.name,
        "msg": rest if event != "LOG" else msg,
    }
    if _clock is not None:
        out["wall_ts"] = wall.isoformat()
    if record.exc_info or record.exc_text:
        text = record.exc_text or logging.Formatter().formatException(record.exc_info)
        out["exc"] = mask_secrets(text)
    return out


class JsonLinesFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = _record_payload(record)
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = _record_payload(record)
        if payload.get("event") == "LOG" or "logger" in payload:
            head = format_payload({"ts": payload["ts"], "level": payload["level"]}, with_date=False)
            event = payload.get("event")
            text = (
                f"{head} {payload['msg']}" if event == "LOG" else f"{head} {event} {payload['msg']}"
            )
            if "exc" in payload:
                text += "\n" + payload["exc"]
            return text
        return format_payload(payload, with_date=False)


_INSTALLED_ATTR = "_live8020_installed"


class DailyFileHandler(logging.FileHandler):
    """The JSON-lines file, rolled over when the IST date changes (also at
    start, for a file last written on an earlier day): ``live8020.jsonl``
    becomes ``live8020.<YYYY-MM-DD>.jsonl`` and only the newest ``keep``
    rolled files are kept. Dated by the wall clock: a replay of another day
    still logs into today's file."""

    def __init__(self, path: Path, keep: int = 7, today: Any = None) -> None:
        self.keep = keep
        self._today = today or (lambda: datetime.now(IST).date())
        path = Path(path)
        if path.exists():
            written = datetime.fromtimestamp(path.stat().st_mtime, IST).date()
            if written < self._today():
                self._roll(path, written)
        super().__init__(path, mode="a", encoding="utf-8", delay=False)
        self.day = self._today()

    def _roll(self, path: Path, day: date) -> None:
        target = path.with_name(f"{path.stem}.{day.isoformat()}{path.suffix}")
        n = 1
        while target.exists():  # a second roll the same day (clock moved back)
            target = path.with_name(f"{path.stem}.{day.isoformat()}.{n}{path.suffix}")
            n += 1
        os.replace(path, target)
        rolled = sorted(path.parent.glob(f"{path.stem}.????-??-??*{path.suffix}"))
        for old in rolled[: max(0, len(rolled) - self.keep)]:
            old.unlink(missing_ok=True)

    def emit(self, record: logging.LogRecord) -> None:
        today = self._today()
        if today != self.day:
            self.acquire()
            try:
                if today != self.day:
                    self.close()
                    self._roll(Path(self.baseFilename), self.day)
                    self.day = today
                    self.stream = self._open()
            finally:
                self.release()
        super().emit(record)


def setup_logging(
    data_dir: Path | None,
    *,
    console_level: str | int = "INFO",
    json_file: str = DEFAULT_JSON_FILE,
    console_stream: TextIO | None = None,
    rotate: bool = True,
    keep: int = 7,
) -> Path | None:
    """Install the JSON-lines file handler (in ``data_dir``, if given) and a
    readable console handler on the ``live8020`` logger and on the plain
    engine loggers (``live.*``: the adapter, the feed); returns the log file
    path. Calling it again replaces the handlers it installed before."""
    level = (
        logging.getLevelName(console_level.upper())
        if isinstance(console_level, str)
        else console_level
    )
    if not isinstance(level, int):
        raise ValueError(
            f"console_level: {console_level!r} is not a level (DEBUG, INFO, WARNING...)"
        )
    teardown_logging()
    logger.setLevel(logging.DEBUG)
    plain = [logging.getLogger(name) for name in PLAIN_LOGGERS]
    for lg in plain:
        if lg.level == logging.NOTSET or lg.level > logging.INFO:
            lg.setLevel(logging.INFO)
    console = logging.StreamHandler(console_stream if console_stream is not None else sys.stderr)
    console.setLevel(level)
    console.setFormatter(ConsoleFormatter())
    _install(console, plain)
    if data_dir is None:
        return None
    if not json_file or os.sep in json_file or (os.altsep and os.altsep in json_file):
        raise ValueError(f"json_file: {json_file!r} must be a bare file name inside data_dir")
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / json_file
    if rotate:
        fh: logging.FileHandler = DailyFileHandler(path, keep=keep)
    else:
        fh = logging.FileHandler(path, mode="a", encoding="utf-8", delay=False)
    fh.setLevel(logging.DEBUG)
    fh.setFormatter(JsonLinesFormatter())
    _install(fh, plain)
    return path


def _install(handler: logging.Handler, plain: list[logging.Logger]) -> None:
    setattr(handler, _INSTALLED_ATTR, True)
    handler.addFilter(_redacting_filter)  # records of the plain loggers are masked too
    logger.addHandler(handler)
    for lg in plain:
        lg.addHandler(handler)


def teardown_logging() -> None:
    """Remove and close the handlers ``setup_logging`` installed."""
    for lg in (logger, *(logging.getLogger(n) for n in PLAIN_LOGGERS)):
        for h in list(lg.handlers):
            if getattr(h, _INSTALLED_ATTR, False):
                lg.removeHandler(h)
                h.close()


def run_start(cfg: Any, world: Any, *, dry_run: bool = False) -> dict[str, Any]:
    """The first line of every run: version, the config's digest (secrets
    left out), which broker world it trades."""
    from live.version import __version__

    settings = _jsonable(cfg)
    if isinstance(settings, dict) and isinstance(settings.get("broker"), dict):
        settings["broker"].pop("api_key", None)
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return log_event("RUN_START", version=__version__, config_digest=digest, world=world,
                     dry_run=dry_run, pid=os.getpid())  # fmt: skip


# --- tail -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TailFilter:
    """fnmatch patterns (case-insensitive); a line matches if it matches any
    event pattern (or there are none) and any symbol pattern (or none)."""

    events: tuple[str, ...] = ()
    symbols: tuple[str, ...] = ()
    min_level: int = 0  # e.g. logging.WARNING: WARNING, ERROR and CRITICAL lines only

    @property
    def active(self) -> bool:
        return bool(self.events or self.symbols or self.min_level)

    def matches(self, obj: Mapping[str, Any]) -> bool:
        if self.min_level:
            level = logging.getLevelName(str(obj.get("level") or "").upper())
            if not isinstance(level, int) or level < self.min_level:
                return False
        if self.events:
            ev = str(obj.get("event") or "").upper()
            if not any(fnmatchcase(ev, p.upper()) for p in self.events):
                return False
        if self.symbols:
            sym = str(obj.get("symbol") or "").upper()
            if not sym:
                return False
            bare = sym.partition(":")[2] or sym
            if not any(
                fnmatchcase(sym, p.upper()) or fnmatchcase(bare, p.upper()) for p in self.symbols
            ):
                return False
        return True


def render_line(line: str, flt: TailFilter) -> str | None:
    """The readable form of one log line, or None if the filter drops it.
    A line that is not a JSON object is shown as malformed, never a crash."""
    raw = line.rstrip("\r\n")
    if not raw.strip():
        return None
    try:
        obj = json.loads(raw)
    except ValueError:
        obj = None
    if not isinstance(obj, dict):
        return f"!! malformed log line: {raw}"
    if not flt.matches(obj):
        return None
    return format_payload(obj)


def _iter_lines(
    f: io.TextIOBase, path: Path, follow: bool, stop: threading.Event, poll: float
) -> Iterator[str]:
    buf = ""
    pos = f.tell()
    while True:
        chunk = f.readline()
        if chunk:
            pos = f.tell()
            buf += chunk
            if buf.endswith("\n"):
                yield buf
                buf = ""
            continue
        if not follow:
            if buf:
                yield buf  # last line without newline
            return
        if stop.wait(poll):
            return
        try:
            st = path.stat()
        except FileNotFoundError:
            continue  # between the roll's rename and the new file
        if st.st_ino != os.fstat(f.fileno()).st_ino:
            # Rolled over (live8020.jsonl renamed, a new one started): read
            # what is left of the old file, then follow the new one.
            for rest in f:
                buf += rest
            if buf:
                yield buf if buf.endswith("\n") else buf + "\n"
                buf = ""
            f.close()
            f = open(path, encoding="utf-8", errors="replace", newline="")  # noqa: SIM115
            pos = 0
        elif st.st_size < pos:  # truncated: start over
            f.seek(0)
            pos, buf = 0, ""


def tail(
    path: Path,
    *,
    flt: TailFilter = TailFilter(),
    follow: bool = False,
    out: TextIO | None = None,
    stop: threading.Event | None = None,
    poll_interval: float = 0.2,
) -> int:
    """Print ``path`` readably to ``out``; with ``follow``, keep printing lines
    appended later until ``stop`` is set (or Ctrl-C). Returns lines printed."""
    out = out if out is not None else sys.stdout
    stop = stop if stop is not None else threading.Event()
    path = Path(path)
    while not path.exists():
        if not follow:
            raise FileNotFoundError(f"log file {path} does not exist; pass --file or --data-dir")
        if stop.wait(poll_interval):
            return 0
    printed = 0
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        for line in _iter_lines(f, path, follow, stop, poll_interval):
            text = render_line(line, flt)
            if text is not None:
                out.write(text + "\n")
                out.flush()
                printed += 1
    return printed


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m live.logs", description="live8020 log tools")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("tail", help="print the JSON-lines log readably")
    t.add_argument("--file", type=Path, help="log file (default: DATA_DIR/live8020.jsonl)")
    t.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="default ./data")
    t.add_argument(
        "--symbol", action="append", default=[], help="SBIN or NSE:SBIN; fnmatch; repeatable"
    )
    t.add_argument("--event", action="append", default=[], help="e.g. 'ORDER_*'; repeatable")
    t.add_argument(
        "--level", default=None, help="this level and above: DEBUG, INFO, WARNING, ERROR"
    )
    t.add_argument("--follow", action=argparse.BooleanOptionalAction, default=True)
    t.add_argument("--poll", type=float, default=0.2, help=argparse.SUPPRESS)
    return p


def main(argv: Iterable[str] | None = None, *, out: TextIO | None = None) -> int:
    args = _build_parser().parse_args(list(argv) if argv is not None else None)
    path = args.file if args.file is not None else args.data_dir / DEFAULT_JSON_FILE
    min_level = 0
    if args.level:
        min_level = logging.getLevelName(args.level.upper())
        if not isinstance(min_level, int):
            print(f"live.logs tail: --level {args.level!r} is not one of DEBUG, INFO, WARNING, "
                  "ERROR, CRITICAL", file=sys.stderr)  # fmt: skip
            return 2
    flt = TailFilter(events=tuple(args.event), symbols=tuple(args.symbol), min_level=min_level)
    out = out if out is not None else sys.stdout
    try:
        tail(path, flt=flt, follow=args.follow, out=out, poll_interval=args.poll)
    except FileNotFoundError as e:
        print(f"live.logs tail: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:  # `tail | head`
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the exit flush
        except OSError:
            pass
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
