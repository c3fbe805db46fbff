"""The four operations every fault is tried on, and what each left behind for the asserts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import attrs

from pathors_async import Agent, RetryPolicy, Timeout, ToolRegistry

from .conftest import QUESTION, SESSION, TOOL_TEXT, serving

#: ``create`` and ``stream``: one chat turn; ``agent`` (`Agent.run`) and ``agent_stream``
#: (`Conversation.stream`): a tool call answered in turn 1, the fault in turn 2.
OPS = ("create", "stream", "agent", "agent_stream")
STREAMED = frozenset({"stream", "agent_stream"})
AGENT = frozenset({"agent", "agent_stream"})
HI = [{"role": "user", "content": QUESTION}]


@attrs.define
class Outcome:
    """What an operation produced: its value or its error, and every object a user could show."""

    value: Any = None
    error: BaseException | None = None
    shown: list[object] = attrs.field(factory=list)
    conversation: Any = None
    agent: Any = None
    seen: int = 0  # requests the server saw for the operation
    next_turn: Any = None  # a plain create() on the same client afterwards: its result or error
    saved: Any = None  # the conversation's to_dict() when the run ended
    retried: Any = None  # for a failed agent run: the run retried from the transcript kept


async def run(op: str, server: Any, client: Any, arm: Callable[[], None]) -> Outcome:
    """Run `op` against `server`; `arm` puts the fault in place before the faulty turn."""
    outcome = Outcome(shown=[client])
    try:
        if op in AGENT:
            await _agent(op, server, client, arm, outcome)
        else:
            arm()
            await _turn(op, client, outcome)
    except Exception as exc:  # noqa: BLE001 - the matrix asserts on whatever came out
        outcome.error = exc
    return outcome


async def _turn(op: str, client: Any, outcome: Outcome) -> None:
    if op == "create":
        outcome.value = await client.chat.completions.create(messages=HI, session_id=SESSION)
        return
    stream = client.chat.completions.stream(messages=HI, session_id=SESSION)
    outcome.shown.append(stream)
    async with stream:
        outcome.value = await stream.get_final_completion()


async def _agent(
    op: str, server: Any, client: Any, arm: Callable[[], None], outcome: Outcome
) -> None:
    tools = ToolRegistry()
    armed = []

    @tools.tool
    async def lookup(city: str) -> str:
        """Look up the weather.

        Args:
            city: The city.
        """
        if not armed:
            armed.append(city)
            arm()  # the next request (turn 2) meets the fault
        return TOOL_TEXT.replace("Oslo", city)

    agent = Agent(client, tools=tools)
    outcome.agent = agent
    outcome.shown.append(agent)
    server.script_tool_call()
    if op == "agent":
        outcome.value = await agent.run(QUESTION, session_id=SESSION)
        return
    conversation = agent.conversation(session_id=SESSION)
    outcome.conversation = conversation
    outcome.shown.append(conversation)
    async with conversation.stream(QUESTION) as agent_run:
        outcome.shown.append(agent_run)
        async for _ in agent_run:
            pass
        outcome.value = agent_run.result


async def play(case: Any, op: str) -> tuple[Outcome, Any]:
    """Run `case` on `op` against a fresh server; return the outcome and the server."""
    timeout = case.timeout or Timeout()
    async with serving(case.server) as server:
        async with server.client(timeout=timeout, retry=RetryPolicy(max_retries=2)) as client:
            outcome = await run(op, server, client, lambda: case.arm(server))
            outcome.seen = server.seen
            if outcome.conversation is not None:  # as it stood when the run ended
                outcome.saved = outcome.conversation.to_dict()
            if case.server_survives:  # the fault must not break the client for the next turn
                outcome.next_turn = await _attempt(client.chat.completions.create(messages=HI))
                if outcome.agent is not None and outcome.error is not None:
                    outcome.retried = await _attempt(_retry_turn(outcome))
        return outcome, server


async def _attempt(awaitable: Awaitable[Any]) -> Any:
    try:
        return await awaitable
    except Exception as exc:  # noqa: BLE001 - asserted by the matrix
        return exc


async def _retry_turn(outcome: Outcome) -> Any:
    """Retry a failed run the documented way: from `exc.messages` (or `Conversation.resume`)."""
    if outcome.conversation is not None:
        return await outcome.conversation.resume()
    return await outcome.agent.run(outcome.error.messages, session_id=SESSION)
