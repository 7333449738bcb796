"""CheckpointedBroker: every broker call becomes a pair of scheduling points."""

from __future__ import annotations

import functools
from typing import Any

from live.interleave import checkpoint


class CheckpointedBroker:
    """Wrap any object so each public method call is bracketed by checkpoints.

    ``wrapped.place_order(req)`` runs ``checkpoint("broker.place_order")``,
    the call, then ``checkpoint("broker.place_order:done")`` (or
    ``":error"`` when the call raised, before re-raising). Attributes that are
    not callables, and names starting with ``_``, pass through unchanged.
    """

    def __init__(self, broker: object, prefix: str = "broker") -> None:
        if not isinstance(prefix, str) or not prefix:
            raise ValueError("CheckpointedBroker prefix must be a non-empty str, e.g. 'broker'")
        object.__setattr__(self, "_inner", broker)
        object.__setattr__(self, "_prefix", prefix)

    @property
    def wrapped(self) -> object:
        return self._inner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name.startswith("_") or not callable(attr):
            return attr
        before = f"{self._prefix}.{name}"
        done, error = before + ":done", before + ":error"

        @functools.wraps(attr)
        def call(*args: Any, **kwargs: Any) -> Any:
            checkpoint(before)
            try:
                result = attr(*args, **kwargs)
            except Exception:
                checkpoint(error)
                raise
            checkpoint(done)
            return result

        # Cache so later lookups skip __getattr__ (cheap in production too).
        self.__dict__[name] = call
        return call

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._inner, name, value)

    def __repr__(self) -> str:
        return f"CheckpointedBroker({self._inner!r})"
