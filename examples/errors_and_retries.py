"""What failures look like, using the emulator's fault injection.

Each section uses only the public API: the error classes, `RetryPolicy`,
`Timeout`, and `FakePathors` to make the service misbehave on purpose.

    python examples/errors_and_retries.py
"""

import asyncio

from pathors_async import (
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    InternalServerError,
    RetryPolicy,
    Timeout,
)
from pathors_async.testing import FakePathors

HI = [{"role": "user", "content": "Hi"}]


async def main() -> None:
    async with FakePathors(api_keys=("sk_example_secret",)) as fake:
        # Short waits so the example runs quickly; the defaults are 0.5 s doubling to 8 s.
        client = fake.client(
            retry=RetryPolicy(max_retries=2, backoff_initial=0.1), timeout=Timeout(read=0.5)
        )

        # 1. An error status becomes a typed exception with everything needed to act.
        bad_key = fake.client(api_key="sk_wrong")
        try:
            await bad_key.chat.completions.create(messages=HI)
        except AuthenticationError as error:
            print("401 ->", type(error).__name__, "|", error)

        # 2. A proxy's HTML page instead of JSON is described, not mis-parsed.
        fake.fail_next(502, times=3, body="<html>Bad Gateway</html>", content_type="text/html")
        try:
            await client.chat.completions.create(messages=HI)
        except APIStatusError as error:
            print("502 ->", type(error).__name__, "| body:", error.body)

        # 3. 503 with Retry-After is retried after the asked wait, then succeeds.
        fake.fail_next(503, retry_after=1)
        completion = await client.chat.completions.create(messages=HI)
        print("503 then 200 -> retried; requests received:", len(fake.requests))

        # 4. A 500 is not retried: the turn may have run (and been billed) already.
        before = len(fake.requests)
        fake.fail_next(500)
        try:
            await client.chat.completions.create(messages=HI, session_id=completion.session_id)
        except InternalServerError as error:
            print(
                "500 -> not retried; attempts:", len(fake.requests) - before, "|", error.status_code
            )

        # 5. A server that stops answering fails after Timeout.read, as a TimeoutError.
        fake.stall_next()
        try:
            await client.chat.completions.create(messages=HI)
        except APITimeoutError as error:
            print(
                "stall ->",
                type(error).__name__,
                "| is TimeoutError:",
                isinstance(error, TimeoutError),
            )


if __name__ == "__main__":
    asyncio.run(main())
