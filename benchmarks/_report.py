"""The markdown table of `make bench`: one row per figure, ratios to raw aiohttp and openai-python.

A ratio says how many times better pathors_async is: for rates, ours / theirs; for times,
CPU and memory, theirs / ours. Above 1 is better, below 1 is worse, in every row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CLIENT_NAMES = ("pure", "speedups", "raw", "openai")
HEADER = (
    "| cell | pathors_async pure | pathors_async speedups | raw aiohttp | openai-python "
    "| vs raw aiohttp (pure / speedups) | vs openai-python (pure / speedups) "
    "| server CPU (pure / speedups / raw / openai) |"
)


@dataclass(frozen=True)
class Row:
    """One figure of one cell."""

    cell: str
    metric: str
    label: str
    unit: str
    higher_is_better: bool = True


ROWS = (
    Row("complete-1", "rate", "non-stream req/s, c=1", "/s"),
    Row("complete-16", "rate", "non-stream req/s, c=16", "/s"),
    Row("complete-128", "rate", "non-stream req/s, c=128", "/s"),
    Row("stream-1", "rate", "200-chunk streams, chunks/s, c=1", "/s"),
    Row("stream-64", "rate", "200-chunk streams, chunks/s, c=64", "/s"),
    Row("stream-1", "ttfc_ms", "time to first chunk, c=1", "ms", higher_is_better=False),
    Row("stream-64", "ttfc_ms", "time to first chunk, c=64", "ms", higher_is_better=False),
    Row("tools-64", "rate", "2-round tool loop, conversations/s, c=64", "/s"),
    Row("tools-stream-64", "rate", "2-round tool loop streamed, conversations/s, c=64", "/s"),
    Row("complete-1", "cpu_us", "client CPU per request, c=1", "µs", higher_is_better=False),
    Row("complete-128", "cpu_us", "client CPU per request, c=128", "µs", higher_is_better=False),
    Row("stream-64", "cpu_us", "client CPU per chunk, c=64", "µs", higher_is_better=False),
    Row("tools-64", "cpu_us", "client CPU per conversation, c=64", "µs", higher_is_better=False),
    Row(
        "tools-stream-64",
        "cpu_us",
        "client CPU per streamed conversation, c=64",
        "µs",
        higher_is_better=False,
    ),
    Row("held-1000", "kib", "RSS per open stream, 1,000 open", "KiB", higher_is_better=False),
    Row("sse", "rate", "SSE decode, events/s", "/s"),
    Row(
        "dispatch", "async_us", "tool dispatch, async tool, per call", "µs", higher_is_better=False
    ),
    Row("dispatch", "sync_us", "tool dispatch, sync tool, per call", "µs", higher_is_better=False),
)


def number(value: float, unit: str) -> str:
    """A figure as it reads best: 2,973 · 134k · 3.21M · 10.7 µs · 0.34 ms · 20.3 KiB."""
    if unit == "/s":
        if value >= 1e6:
            return f"{value / 1e6:.2f}M"
        if value >= 1e5:
            return f"{value / 1e3:.0f}k"
        return f"{value:,.0f}"
    if unit == "ms":
        return f"{value:.2f} ms"
    return f"{value:,.0f} {unit}" if value >= 100 else f"{value:.1f} {unit}"


def figure(results: dict[str, Any], row: Row, client: str) -> float | None:
    value = results.get(row.cell, {}).get(client, {}).get(row.metric)
    return float(value) if value is not None else None


def ratio(ours: float | None, theirs: float | None, *, higher_is_better: bool) -> str:
    if ours is None or theirs is None or ours <= 0 or theirs <= 0:
        return "-"
    return f"{ours / theirs if higher_is_better else theirs / ours:.2f}"


def cell_text(results: dict[str, Any], row: Row, client: str) -> str:
    result = results.get(row.cell, {}).get(client)
    if result is None:
        return "-"
    if "error" in result:
        return "FAILED"
    if "skipped" in result:
        return "not installed"
    value = figure(results, row, client)
    return "-" if value is None else number(value, row.unit)


def server_text(results: dict[str, Any], row: Row) -> str:
    if row.metric != "rate":
        return ""
    shares = [results.get(row.cell, {}).get(c, {}).get("server_share") for c in CLIENT_NAMES]
    if all(share is None for share in shares):
        return ""
    return " / ".join("-" if s is None else f"{s:.0%}" for s in shares)


def line(results: dict[str, Any], row: Row) -> str:
    pure, fast, raw, openai = (figure(results, row, client) for client in CLIENT_NAMES)
    better = row.higher_is_better
    vs_raw = (
        f"{ratio(pure, raw, higher_is_better=better)} / {ratio(fast, raw, higher_is_better=better)}"
    )
    vs_openai = (
        f"{ratio(pure, openai, higher_is_better=better)} / "
        f"{ratio(fast, openai, higher_is_better=better)}"
    )
    texts = [cell_text(results, row, client) for client in CLIENT_NAMES]
    server = server_text(results, row)
    return f"| {row.label} | {' | '.join(texts)} | {vs_raw} | {vs_openai} | {server} |"


def table(results: dict[str, Any]) -> tuple[str, list[str]]:
    """The markdown table of the cells that ran, and a line for each failed cell."""
    rows = [row for row in ROWS if row.cell in results]
    lines = [HEADER, "|" + " --- |" * 8, *(line(results, row) for row in rows)]
    httpx_sse = results.get("sse", {}).get("httpx-sse", {}).get("rate")
    ours = results.get("sse", {}).get("pure", {}).get("rate")
    notes = []
    if httpx_sse and ours:
        notes.append(
            f"SSE decode: httpx-sse {number(httpx_sse, '/s')} events/s; "
            f"pathors_async pure decodes {ours / httpx_sse:.2f}x as many."
        )
    notes.append(
        "vs columns: how many times better pathors_async is (rates: ours / theirs; times, "
        "CPU and memory: theirs / ours); above 1 is better."
    )
    failures = [
        f"{cell} {client}: {result['error']}"
        for cell, by_client in results.items()
        for client, result in by_client.items()
        if "error" in result
    ]
    return "\n".join(lines) + "\n\n" + "\n".join(notes) + "\n", failures
