"""The delta accumulator: folds streamed chunks into a `ChatCompletion`.

A pure state object (no I/O), fed one `ChatCompletionChunk` at a time by
`ChatCompletionStream` and tested on its own. Work is linear in the stream's
size: fragments are collected in lists and joined only when a snapshot is taken.
"""

from __future__ import annotations

import attrs

from ._models import (
    ChatCompletion,
    ChatCompletionChunk,
    Choice,
    FunctionCall,
    Message,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from ._untrusted import generated_call_id, reply_role

__all__ = ["ChatCompletionAccumulator"]


@attrs.define
class _ToolCallState:
    index: int | None
    id: str | None = None
    type: str | None = None
    name: str | None = None
    arguments: list[str] = attrs.field(factory=list)


@attrs.define
class _ChoiceState:
    role: str | None = None
    content: list[str] = attrs.field(factory=list)
    finish_reason: str | None = None
    tool_calls: list[_ToolCallState] = attrs.field(factory=list)
    by_index: dict[int, _ToolCallState] = attrs.field(factory=dict)
    by_id: dict[str, _ToolCallState] = attrs.field(factory=dict)

    def _call_for(self, delta: ToolCallDelta) -> _ToolCallState:
        """Find the call a fragment belongs to, or start a new one.

        A known id finds its call. Otherwise the index finds the latest call
        started on it, unless the fragment brings a different id: then it is a
        new call on the same index. Without index or id, the last call goes on.
        """
        if delta.id and (known := self.by_id.get(delta.id)) is not None:
            return known
        if delta.index is not None:
            latest = self.by_index.get(delta.index)
            if latest is not None and not (delta.id and latest.id):
                return latest
        elif not delta.id and self.tool_calls:
            return self.tool_calls[-1]
        state = _ToolCallState(index=delta.index)
        self.tool_calls.append(state)
        if delta.index is not None:
            self.by_index[delta.index] = state
        return state

    def add_tool_call(self, delta: ToolCallDelta) -> None:
        """Fold one tool-call fragment in (see `_call_for` for which call it goes to)."""
        state = self._call_for(delta)
        # id, type and name are set once: a server that repeats them must not double them.
        if delta.id and state.id is None:
            state.id = delta.id
            self.by_id[delta.id] = state
        if delta.type and state.type is None:
            state.type = delta.type
        if delta.name and state.name is None:
            state.name = delta.name
        if delta.arguments:
            state.arguments.append(delta.arguments)

    def message(self, completion_id: str) -> Message:
        """Assemble the message received so far (see `reply_role`, `generated_call_id`)."""
        # By index; calls sharing an index, or without one, in the order they started.
        calls = sorted(self.tool_calls, key=lambda call: (call.index is None, call.index or 0))
        tool_calls = []
        for position, call in enumerate(calls):
            name, arguments = call.name or "", "".join(call.arguments)
            tool_calls.append(
                ToolCall(
                    id=call.id or generated_call_id(position, completion_id, name, arguments),
                    type=call.type or "function",
                    function=FunctionCall(name=name, arguments=arguments),
                )
            )
        content = "".join(self.content) if self.content else None
        return Message(
            role=reply_role(self.role, content=content, tool_calls=tool_calls, tool_call_id=None),
            content=content,
            tool_calls=tool_calls or None,
        )


class ChatCompletionAccumulator:
    """Fold streamed chunks into a `ChatCompletion`; pure state, linear in the stream's size.

    Choices are kept apart by `index`; tool calls by their `index` (by `id` when
    a server leaves the index out, and two calls sharing an index with different
    ids stay two calls, in the order they started); text and argument fragments
    are collected and joined only when a snapshot is taken. A snapshot never
    fails: a call without id gets the same generated id a whole completion
    would give it, and a role that cannot make a valid message becomes
    ``assistant``, as in a whole completion.
    """

    __slots__ = ("_choices", "_created", "_id", "_model", "_session_id", "_usage", "chunks")

    def __init__(self, *, session_id: str | None = None) -> None:
        self._choices: dict[int, _ChoiceState] = {}
        self._id = ""
        self._created = 0
        self._model = ""
        self._usage: Usage | None = None
        self._session_id = session_id
        #: How many chunks were added.
        self.chunks = 0

    def add(self, chunk: ChatCompletionChunk) -> None:
        """Fold one chunk in.

        Args:
            chunk: The next chunk of the stream.
        """
        self.chunks += 1
        if not self._id:
            self._id, self._created, self._model = chunk.id, chunk.created, chunk.model
        if chunk.usage is not None:
            self._usage = chunk.usage
        if self._session_id is None and chunk.session_id:
            self._session_id = chunk.session_id
        for choice in chunk.choices:
            state = self._choices.get(choice.index)
            if state is None:
                state = self._choices[choice.index] = _ChoiceState()
            delta = choice.delta
            if delta.role and state.role is None:
                state.role = delta.role
            if delta.content:
                state.content.append(delta.content)
            if delta.tool_calls:
                for call in delta.tool_calls:
                    state.add_tool_call(call)
            if choice.finish_reason:
                state.finish_reason = choice.finish_reason

    @property
    def finished(self) -> bool:
        """Whether there is at least one choice and every choice has a finish reason."""
        return bool(self._choices) and all(
            choice.finish_reason for choice in self._choices.values()
        )

    @property
    def session_id(self) -> str | None:
        """The session id: the response header's, else the first chunk that carried one."""
        return self._session_id

    def snapshot(self) -> ChatCompletion:
        """Return the completion assembled from the chunks so far."""
        return ChatCompletion(
            id=self._id,
            created=self._created,
            model=self._model,
            choices=[
                Choice(
                    index=index,
                    message=state.message(self._id),
                    finish_reason=state.finish_reason,
                )
                for index, state in sorted(self._choices.items())
            ],
            usage=self._usage,
            session_id=self._session_id,
        )
