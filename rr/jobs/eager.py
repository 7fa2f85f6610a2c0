"""Run a coroutine right away, and only fall back to a task if it really has to wait.

This is what ``asyncio.eager_task_factory`` does from Python 3.12 on, for one coroutine
on 3.11: a job's settlement (ack, nack, requeue) usually completes without waiting - the
memory, kafka, redis and amqp drivers only record it - and then costs no task and no loop
iteration. When it does wait (an SQS DeleteMessage, a requeue round trip), the rest runs
in a task, so the worker that ran the job can take the next one meanwhile.

The first steps and the task share one copied context, as they would in one task: a
library that sets a context variable before its first wait and resets it after (the
AWS SDK does, around every call) would otherwise reset it in another context and fail.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from typing import Any


def start(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None] | None:
    """Step ``coro`` until it first waits; None when it already finished, else the task
    that finishes it. Its exceptions are raised here if they happen before the first wait,
    and by the task after."""
    ctx = contextvars.copy_context()
    try:
        waiting_on = ctx.run(coro.send, None)
    except StopIteration:
        return None
    return asyncio.get_running_loop().create_task(_finish(coro, waiting_on), context=ctx)


async def _finish(coro: Coroutine[Any, Any, None], waiting_on: Any) -> None:
    """Drive ``coro`` from where ``start`` left it, as an asyncio Task would: wait for
    the future it yielded, then resume it (it reads the future's result itself)."""
    loop = asyncio.get_running_loop()
    while True:
        if waiting_on is None:  # a bare yield (asyncio.sleep(0)): just let the loop run
            await asyncio.sleep(0)
        else:
            waiting_on._asyncio_future_blocking = False
            woken: asyncio.Future[None] = loop.create_future()
            waiting_on.add_done_callback(lambda _, w=woken: w.done() or w.set_result(None))
            try:
                await woken
            except asyncio.CancelledError:
                # cancelled while waiting: cancel what the coroutine waits on, as
                # Task.cancel does, and let the coroutine see it on resumption
                waiting_on.cancel()
        try:
            waiting_on = coro.send(None)
        except StopIteration:
            return
