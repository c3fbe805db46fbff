"""Conversations at scale: stores with leases, so one turn at a time runs per conversation.

``from pathors_async.stores import MemoryStore, SQLiteStore, RedisStore``; then
``Conversations(agent, store)`` (or ``agent.conversations(store)``) sends each end
user's messages through their stored conversation, across every process that
shares the store. `ConversationStore` is the protocol to implement for another
database.
"""

from ._conversations import Conversations
from ._memory import MemoryStore
from ._protocol import ConversationStore, Lease
from ._redis import RedisStore
from ._sqlite import SQLiteStore

__all__ = [
    "ConversationStore",
    "Conversations",
    "Lease",
    "MemoryStore",
    "RedisStore",
    "SQLiteStore",
]
