"""pathors_async: an asyncio-native SDK for the Pathors chat-completions API.

Everything public is importable from here; the modules with a leading
underscore are private. The local emulator lives in `pathors_async.testing`.
"""

from ._agent import Agent
from ._client import AsyncPathors
from ._config import ResponseLimits, RetryPolicy, Timeout
from ._conversation import Conversation, HistoryMode
from ._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ConversationBusy,
    InsufficientCreditsError,
    InternalServerError,
    LeaseLost,
    MaxTurnsExceeded,
    NotFoundError,
    PathorsError,
    PermissionDeniedError,
    RateLimitError,
    StoreError,
    StreamError,
    ToolArgumentsError,
    ToolError,
    ToolExecutionError,
    ToolNotFoundError,
)
from ._events import AgentEvent, TextDelta, ToolCallFinished, ToolCallStarted, TurnFinished
from ._models import (
    ChatCompletion,
    ChatCompletionChunk,
    Choice,
    ChunkChoice,
    Delta,
    FunctionCall,
    Message,
    SessionCreated,
    SessionEnded,
    SessionState,
    ToolCall,
    ToolCallDelta,
    ToolFailure,
    ToolResult,
    Usage,
)
from ._ratelimit import RateLimit
from ._registry import ToolRegistry
from ._run import AgentRun, RunResult
from ._sources import ToolCallBatch, ToolSource
from ._stream import ChatCompletionStream
from ._tools import Tool, ToolContext, ToolDecorator, tool
from ._version import __version__

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "Agent",
    "AgentEvent",
    "AgentRun",
    "AsyncPathors",
    "AuthenticationError",
    "BadRequestError",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionStream",
    "Choice",
    "ChunkChoice",
    "ConflictError",
    "Conversation",
    "ConversationBusy",
    "Delta",
    "FunctionCall",
    "HistoryMode",
    "InsufficientCreditsError",
    "InternalServerError",
    "LeaseLost",
    "MaxTurnsExceeded",
    "Message",
    "NotFoundError",
    "PathorsError",
    "PermissionDeniedError",
    "RateLimit",
    "RateLimitError",
    "ResponseLimits",
    "RetryPolicy",
    "RunResult",
    "SessionCreated",
    "SessionEnded",
    "SessionState",
    "StoreError",
    "StreamError",
    "TextDelta",
    "Timeout",
    "Tool",
    "ToolArgumentsError",
    "ToolCall",
    "ToolCallBatch",
    "ToolCallDelta",
    "ToolCallFinished",
    "ToolCallStarted",
    "ToolContext",
    "ToolDecorator",
    "ToolError",
    "ToolExecutionError",
    "ToolFailure",
    "ToolNotFoundError",
    "ToolRegistry",
    "ToolResult",
    "ToolSource",
    "TurnFinished",
    "Usage",
    "__version__",
    "tool",
]
