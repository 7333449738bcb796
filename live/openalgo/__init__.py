"""OpenAlgo: the only code that knows its JSON and its WebSocket protocol.

``convert`` reads OpenAlgo's JSON into ``live.broker`` types (total parsers:
a value or a ValueError naming the field); ``transport`` is the HTTP
exchange; ``broker`` the REST endpoints as a ``live.broker.Broker``;
``recovery`` finds placements whose reply was lost; ``feed`` is the
WebSocket thread and ``messages`` reads what arrives on it (ticks, order
updates, de-duplicated by ``live.orders``).
"""

from .broker import BrokerCounters, OpenAlgoBroker
from .feed import Backoff, Feed, FeedCounters, FeedState, SubscribeForm
from .messages import Tick, parse_tick
from .recovery import AmbiguityPolicy
from .transport import RetryPolicy, Timeouts

__all__ = [
    "AmbiguityPolicy",
    "Backoff",
    "BrokerCounters",
    "Feed",
    "FeedCounters",
    "FeedState",
    "OpenAlgoBroker",
    "RetryPolicy",
    "SubscribeForm",
    "Tick",
    "Timeouts",
    "parse_tick",
]
