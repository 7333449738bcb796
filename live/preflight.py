"""Checks that run before anything starts: a user's mistake becomes one line
naming the path, the host or the key and what to do, with nothing written.

``python live_8020.py`` validates the config (``live.config``), then calls
``check`` here, and only then creates ``data_dir``, opens the log and the
journal and connects for real. Each check raises ``StartupError`` with one
line; the entry point prints it and exits non-zero. Nothing here writes a
file or places an order: the broker check is one ``ping``.
"""

from __future__ import annotations

import errno
import logging
import os
import tempfile
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from live.broker import BrokerError, InvalidRequest, TransientBrokerError
from live.calendar import broker_calendar, market_session
from live.clock import Clock, MarketSession
from live.config import Config


class StartupError(Exception):
    """A mistake found before the start, as one line for the user."""


def check(cfg: Config, clock: Clock, *, dry_run: bool = False) -> None:
    """Every check, cheapest first; raises StartupError on the first failure
    (the config's own problems were all reported by ``live.config``)."""
    check_data_dir(cfg.data_dir)
    journal = cfg.journal_path(dry_run=dry_run)
    if journal.exists() and not journal.is_file():
        raise StartupError(f"journal {journal}: is not a file; move it aside (it is not a journal)")
    key = cfg.api_key()  # ConfigError naming the variable when it is unset
    if len(key.strip()) < 8:
        raise StartupError(
            f"broker: the API key in ${cfg.broker.api_key_env} is too short "
            f"({len(key.strip())} characters); export the whole key from OpenAlgo's API key page"
        )
    session = market_session(cfg)
    if cfg.broker.kind in ("openalgo", "paper"):  # paper: prices from the OpenAlgo server
        session = check_broker(cfg, key, clock)
    check_market_open(session, clock.now(), replay=cfg.clock.start is not None)


def check_data_dir(path: Path) -> None:
    """``path`` is (or can be created as) a directory we may write in."""
    if path.exists():
        if not path.is_dir():
            raise StartupError(
                f"data_dir: {path} is a file, not a directory; "
                "point data_dir at a directory (it is created if missing)"
            )
        _probe(path, f"data_dir: {path} is not writable")
        return
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise StartupError(
            f"data_dir: cannot create {path}: {parent} is a file; "
            "point data_dir at a directory path"
        )
    _probe(parent, f"data_dir: cannot create {path}: {parent} is not writable")


def _probe(directory: Path, what: str) -> None:
    """access(2) answers for permission bits, ACLs and read-only mounts.
    Root passes it where the kernel still refuses writes (sysfs, some
    container mounts), so for root a probe file is created and removed."""
    fix = "make it writable (chmod/chown) or point data_dir elsewhere"
    if not os.access(directory, os.W_OK | os.X_OK):
        raise StartupError(f"{what}; {fix}")
    if os.geteuid() != 0:
        return
    try:
        fd, name = tempfile.mkstemp(prefix=".live8020-probe-", dir=directory)
    except OSError as exc:
        reason = "read-only file system" if exc.errno == errno.EROFS else exc.strerror
        raise StartupError(f"{what} ({reason}); {fix}") from None
    os.close(fd)
    os.unlink(name)


def check_broker(cfg: Config, key: str, clock: Clock) -> MarketSession:
    """One ``ping`` (the call that needs the API key) and the day's calendar:
    an unreachable host or a refused key is named here, not as a traceback
    in the middle of the start-up."""
    from live.openalgo import OpenAlgoBroker, RetryPolicy, Timeouts

    t = cfg.broker.timeout_seconds
    broker = OpenAlgoBroker(
        cfg.broker.host,
        key,
        clock=clock,
        timeouts=Timeouts(connect=t, read=t, order=t),
        retry=RetryPolicy(attempts=2),
    )
    where = _host_port(cfg.broker.host)
    try:
        with _quiet():
            broker.world()
            return broker_calendar(broker, market_session(cfg), clock.now().date())
    except InvalidRequest as exc:
        if exc.code in (401, 403):
            raise StartupError(
                f"broker rejected the API key in ${cfg.broker.api_key_env} ({where}); "
                "export the key from OpenAlgo's API key page"
            ) from None
        raise StartupError(f"broker.host: {where} refused ping ({exc}); is it OpenAlgo?") from None
    except TransientBrokerError as exc:
        raise StartupError(
            f"broker.host: cannot reach OpenAlgo at {where} ({_reason(exc)}); "
            "start the server or fix broker.host"
        ) from None
    except BrokerError as exc:
        raise StartupError(f"broker.host: {where} answered ping oddly ({exc})") from None
    finally:
        broker.close()


def check_market_open(session: MarketSession, now: datetime, *, replay: bool) -> None:
    """After today's close (or on a holiday) there is nothing to trade: say
    so instead of printing an empty summary. Before the open is fine (the
    engine waits for it)."""
    day = now.date()
    fix = "pick a clock.start inside the session" if replay else "start it on the next trading day"
    if not session.is_trading_day(day):
        raise StartupError(
            f"market is closed: {day:%a %Y-%m-%d} is not a trading day (weekend or holiday); {fix}"
        )
    close = session.close_at(day)
    if now >= close:
        raise StartupError(
            f"market is closed: it is {now:%H:%M} IST, the session ended at {close:%H:%M}; {fix}"
        )


def _host_port(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


def _reason(exc: BrokerError) -> str:
    text = str(exc)
    return text.split(": ", 1)[1] if ": " in text else text


@contextmanager
def _quiet():
    """Before logging is set up, the broker's retry warnings would reach
    stderr through Python's last-resort handler: the user gets our one line."""
    root = logging.getLogger()
    handler = logging.NullHandler()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
