"""Opening the journal for one broker world, moving a stranger's file aside.

``open_for`` never deletes a journal: a file from another world, or with no
world and orders today, is renamed next to itself as
``<stem>.<UTC time>.<reason>.db`` (with its ``-wal``/``-shm`` sidecars)
and a fresh journal takes its place. The one-line message says what
happened, for the engine to print. An unreadable file is refused, not moved.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path
from typing import NamedTuple

from live.clock import require_aware

from .journal import Journal
from .rows import JournalCorruptError, JournalInUseError, JournalUnreadableError
from .store import is_corruption
from .world import World

_SIDECARS = ("-wal", "-shm", "-journal")


class OpenedJournal(NamedTuple):
    journal: Journal
    message: str | None  # None: the file was this world's, nothing to say


def open_for(
    path: str | Path,
    world: World,
    *,
    today: date,
    now: datetime | None = None,
    busy_timeout: float = 30.0,
) -> OpenedJournal:
    """Open ``path`` for ``world`` (``today``: the engine's trading day;
    ``now``: when, for the moved-aside file's name; default the wall clock).

    - no file: a fresh journal, recorded as ``world``'s;
    - ``world``'s file: used as is (what it records of the world is
      completed when ``world`` knows more, e.g. the account behind a host);
    - a file that records no world (older code): adopted if it holds no
      order for ``today``, else treated as another world's;
    - another world's file: moved aside, and a fresh journal started;
    - a file that is not a readable journal (corrupt, not SQLite, another
      program's database): ``JournalCorruptError``, nothing touched - the
      user decides, since it may be the only record of today's orders.

    A newer schema (``ValueError``) and a locked or failing disk
    (``JournalWriteError``) are raised, never taken for another world; a
    file to move that another process still has open raises
    ``JournalInUseError`` and stays where it is.
    """
    path = Path(path)
    if not isinstance(world, World):
        raise ValueError(f"world: must be a World, got {type(world).__name__}")
    if isinstance(today, datetime) or not isinstance(today, date):
        raise ValueError(f"today: must be a datetime.date (the IST trading day), got {today!r}")
    if now is not None:
        require_aware(now, "now")
    # An empty file is new too, unless a WAL beside it may hold its data.
    if not path.exists() or (path.stat().st_size == 0 and not _sidecars(path)):
        j = Journal(path, busy_timeout=busy_timeout)
        _record(j, world)
        return OpenedJournal(j, f"journal {path}: new, for {world}")
    verdict = _judge(path, world, today, busy_timeout)
    if isinstance(verdict, OpenedJournal):
        return verdict
    reason, why = verdict
    if reason == "corrupt":
        raise JournalCorruptError(path, why)
    if _sidecars(path):
        # Our connection is closed; SQLite deletes -wal/-shm when the last
        # one closes, so someone else still has the file open.
        raise JournalInUseError(
            f"journal {path} {why}, but another process has it open "
            f"({', '.join(p.name for p in _sidecars(path))}): stop it first; nothing was moved"
        )
    moved = move_aside(path, reason, now or datetime.now(UTC))
    j = Journal(path, busy_timeout=busy_timeout)
    _record(j, world)
    return OpenedJournal(
        j, f"journal {path} {why}: moved it to {moved.name} and started a fresh one for {world}"
    )


def _judge(
    path: Path, world: World, today: date, busy_timeout: float
) -> OpenedJournal | tuple[str, str]:
    """The journal to use, or (reason, why) it must be moved aside."""
    try:
        j = Journal(path, busy_timeout=busy_timeout)
    except JournalUnreadableError as e:
        return "corrupt", f"is not a readable journal ({e.detail})"
    try:
        check = j.quick_check()
        if check != "ok":
            return "corrupt", f"failed SQLite's quick_check ({check})"
        try:
            recorded = j.world()
        except ValueError as e:
            return "other-world", f"records an unreadable broker world ({e})"
        if recorded is None:
            n = len(j.orders(day=today, include_unbound=True))
            if n:
                return "unknown-world", (
                    f"records no broker world and holds {n} order(s) for {today}, "
                    f"which may not be {world}'s"
                )
            _record(j, world)
            opened = OpenedJournal(
                j,
                f"journal {path}: recorded no broker world and holds no order for {today}; "
                f"it now belongs to {world}",
            )
            j = None  # handed out, not closed
            return opened
        if not recorded.matches(world):
            return "other-world", f"belongs to {recorded}, not {world}"
        learned = recorded.learned_from(world)
        if learned != recorded:
            _record(j, learned)
        opened, j = OpenedJournal(j, None), None
        return opened
    except sqlite3.DatabaseError as e:
        if not is_corruption(e):
            raise
        # Corruption found past the pages the open read.
        return "corrupt", f"is not a readable journal ({e})"
    finally:
        if j is not None:
            j.close()


def _record(j: Journal, world: World) -> None:
    try:
        j.record_world(world)
    except BaseException:
        j.close()
        raise


def _sidecars(path: Path) -> list[Path]:
    return [p for p in (Path(str(path) + s) for s in _SIDECARS) if p.exists()]


def move_aside(path: Path, reason: str, now: datetime) -> Path:
    """Rename ``path`` and its sidecars to ``<stem>.<UTC time>.<reason><suffix>``
    (``-2``, ``-3``... if taken); returns the new main file's path."""
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    base = f"{path.stem}.{stamp}.{reason}"
    target = path.with_name(base + path.suffix)
    n = 1
    while any(Path(str(target) + s).exists() for s in ("", *_SIDECARS)):
        n += 1
        target = path.with_name(f"{base}-{n}{path.suffix}")
    # Sidecars first: a crash half way must not leave an old -wal next to the
    # fresh file SQLite is about to create (it would replay it into that file).
    for s in _SIDECARS:
        side = Path(str(path) + s)
        if side.exists():
            side.rename(str(target) + s)
    path.rename(target)
    return target
