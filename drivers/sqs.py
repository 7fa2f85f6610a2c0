"""SQS pipelines on aiobotocore (spec/drivers.md §4).

Messages carry RoadRunner's attributes (``rr_id``, ``rr_job``, ``rr_delay``, ``rr_headers``
as Binary JSON, ``rr_priority`` as Number, ``rr_auto_ack``), so RoadRunner and rr consume
each other's jobs. Extensions, each only present when needed and ignored by RoadRunner:

* ``rr_delay_until`` (Number, unix seconds): a delay above SQS's 900 s limit is sent as
  900 s; a consumer that receives the message before that time sends it on again with
  the remaining delay (at most 900 s each hop) and deletes the received one;
* ``rr_body_encoding`` = ``base64``: SQS bodies must be XML text, so a payload that is
  not (binary, control characters) travels base64-encoded instead of failing the push.

Where this differs from RoadRunner on purpose: a Nack reply with requeue=false deletes the
message (or, with ``retain_failed_jobs``, leaves it to the queue's redrive policy) instead
of re-sending it forever, and a message without ``rr_priority`` gets the pipeline priority
instead of 0, which would jump ahead of every other job.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import re
import time
import uuid
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from rr.drivers.sqs_config import MAX_DELAY, SQSPipelineConfig, parse_pipeline
from rr.drivers.sqs_deletes import DeleteBatcher
from rr.drivers.sqs_dlq import SQSDeadLetters
from rr.errors import RRError, describe
from rr.pipeline.deadletters import HeldDeadLetters
from rr.pipeline.driver import Delivery, Driver, PipelineOptions, PipelineState, Sink
from rr.pipeline.job import Headers, Job

log = logging.getLogger("rr.jobs.sqs")

DEDUCED = "deduced_by_rr"
STOPPED = "failed to acknowledge the JOB, the sqs pipeline is probably stopped"
_NOT_XML_TEXT = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_MISSING_QUEUE = ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist",
                  "NonExistentQueue")


def _error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def encode_body(payload: bytes) -> tuple[str, bool]:
    """(MessageBody, base64-encoded?)."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(payload).decode(), True
    if _NOT_XML_TEXT.search(text):
        return base64.b64encode(payload).decode(), True
    return text, False


def _string(v: str) -> dict[str, Any]:
    return {"DataType": "String", "StringValue": v}


def encode_attributes(job: Job, delay: int, priority: int) -> dict[str, Any]:
    return {
        "rr_id": _string(job.id),
        "rr_job": _string(job.name),
        "rr_delay": _string(str(delay)),
        "rr_headers": {"DataType": "Binary",
                       "BinaryValue": json.dumps(job.headers, separators=(",", ":")).encode()},
        "rr_priority": {"DataType": "Number", "StringValue": str(priority)},
        "rr_auto_ack": _string("true" if job.auto_ack else "false"),
    }


def _attr_text(attr: dict[str, Any]) -> str:
    if "StringValue" in attr:
        return str(attr["StringValue"])
    raw = attr.get("BinaryValue", b"")
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def decode_message(message: dict[str, Any], pipeline: str, default_priority: int) -> Job:
    attrs: dict[str, Any] = message.get("MessageAttributes") or {}
    system: dict[str, str] = message.get("Attributes") or {}
    headers: Headers = {}
    if "rr_headers" in attrs:
        with contextlib.suppress(ValueError):
            parsed = json.loads(_attr_text(attrs["rr_headers"]) or "{}")
            if isinstance(parsed, dict):
                headers = {str(k): [str(x) for x in (v if isinstance(v, list) else [v])]
                           for k, v in parsed.items()}
    job_id = _attr_text(attrs["rr_id"]) if "rr_id" in attrs else ""
    if not job_id:
        job_id = str(uuid.uuid4())
        for key, value in attrs.items():  # a foreign message: its attributes are the headers
            headers[key] = [_attr_text(value)]
    priority = 0
    with contextlib.suppress(KeyError, ValueError):
        priority = int(float(_attr_text(attrs["rr_priority"])))
    delay = 0
    with contextlib.suppress(KeyError, ValueError):
        delay = int(_attr_text(attrs["rr_delay"]))
    for key, value in system.items():
        headers[key] = [str(value)]
    body = str(message.get("Body", ""))
    payload = body.encode()
    if "rr_body_encoding" in attrs and _attr_text(attrs["rr_body_encoding"]) == "base64":
        payload = base64.b64decode(body)
    return Job(id=job_id,
               name=_attr_text(attrs["rr_job"]) if "rr_job" in attrs else DEDUCED,
               payload=payload, headers=headers, pipeline=pipeline,
               priority=priority or default_priority, delay=delay,
               auto_ack="rr_auto_ack" in attrs and _attr_text(attrs["rr_auto_ack"]) == "true")


class SQSDelivery(Delivery):
    def __init__(self, driver: SQSDriver, message: dict[str, Any], job: Job) -> None:
        self.job = job
        self.receipt = str(message.get("ReceiptHandle", ""))
        self._driver = driver
        self._settled = False

    def context(self) -> bytes:
        return self.job.context_bytes("sqs", queue=self._driver.config.queue)

    def _begin(self) -> None:
        if self._driver.stopped:
            raise RRError(STOPPED)
        if self._settled:
            raise RRError("sqs: the job was already acknowledged")

    def _done(self) -> None:
        self._settled = True
        self._driver.settled(self)

    async def ack(self) -> None:
        self._begin()
        if not self.job.auto_ack:
            await self._driver.delete(self.receipt)
        self._done()

    async def nack(self, requeue: bool | None = None, delay: int = 0) -> None:
        self._begin()
        if requeue:
            await self.requeue(None, delay)
            return
        cfg = self._driver.config
        if not self.job.auto_ack:
            if cfg.retain_failed_jobs:
                if cfg.error_visibility_timeout > 0:
                    await self._driver.change_visibility(self.receipt,
                                                         cfg.error_visibility_timeout)
                # else: it reappears after its visibility timeout (redrive policies work)
            elif requeue is None:
                # worker failure: a fresh copy with the original delay, then the original goes
                await self._driver.send(self.job, self.job.delay, fresh_dedup=True)
                await self._driver.delete(self.receipt)
            else:
                await self._driver.delete(self.receipt)  # discarded on purpose
        self._done()

    async def release(self) -> None:
        """Never started (shutdown): visible again at once, not after the timeout."""
        if self._settled or self._driver.stopped:
            return
        self._settled = True
        if not self.job.auto_ack:
            await self._driver.return_messages([self.receipt])
        self._driver.settled(self)

    async def requeue(self, headers: Headers | None, delay: int) -> None:
        self._begin()
        self.job.headers = self.job.merged_headers(headers)
        self.job.delay = delay
        await self._driver.send(self.job, delay, fresh_dedup=True)
        if not self.job.auto_ack:
            await self._driver.delete(self.receipt)
        self._done()


class SQSDriver(HeldDeadLetters, Driver):
    kind = "sqs"

    def __init__(self, options: PipelineOptions, sink: Sink) -> None:
        super().__init__(options, sink)
        self.config: SQSPipelineConfig = parse_pipeline(options)
        section = options.global_section
        self._endpoint = section.string("endpoint") or None
        self._client_kwargs: dict[str, Any] = {
            "region_name": section.string("region") or "us-east-1",
            "endpoint_url": self._endpoint,
            "config": AioConfig(retries={"max_attempts": 3, "mode": "standard"},
                                connect_timeout=5,
                                read_timeout=self.config.wait_time + 15)}
        if section.string("key") and section.string("secret"):
            self._client_kwargs.update(aws_access_key_id=section.string("key"),
                                       aws_secret_access_key=section.string("secret"),
                                       aws_session_token=section.string("session_token")
                                       or None)
        self._stack = contextlib.AsyncExitStack()
        self._client: Any = None
        self.url = ""
        self._start_lock = asyncio.Lock()
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._heartbeat: asyncio.Task[None] | None = None
        self._unsettled: set[SQSDelivery] = set()
        self._room = asyncio.Condition()
        self._deletes = DeleteBatcher(self._delete_batch)
        self._connected = True
        self.stopped = False

    # connection and queue ----------------------------------------------------------
    async def _ensure(self) -> Any:
        async with self._start_lock:
            if self.stopped:
                raise RRError(f"sqs pipeline {self.pipeline} is stopped")
            if self._client is None:
                client = await self._stack.enter_async_context(
                    get_session().create_client("sqs", **self._client_kwargs))
                try:
                    self.url = await self._declare(client)
                except BaseException:
                    await self._stack.aclose()
                    raise
                self._client = client
            return self._client

    async def _declare(self, client: Any) -> str:
        cfg = self.config
        if cfg.skip_declaration:
            return str((await client.get_queue_url(QueueName=cfg.queue))["QueueUrl"])
        kwargs: dict[str, Any] = {"QueueName": cfg.queue}
        if cfg.attributes:
            kwargs["Attributes"] = cfg.attributes
        if cfg.tags:
            kwargs["tags"] = cfg.tags
        try:
            url = str((await client.create_queue(**kwargs))["QueueUrl"])
        except ClientError as exc:
            if "QueueAlreadyExists" not in _error_code(exc) and \
                    "QueueNameExists" not in _error_code(exc):
                raise
            return str((await client.get_queue_url(QueueName=cfg.queue))["QueueUrl"])
        if self._endpoint is None:
            await asyncio.sleep(1)  # AWS: a new queue is not usable right away
        return url

    async def client(self) -> Any:
        """The SQS client, connected and the queue declared (``url`` is set)."""
        return await self._ensure()

    def decode(self, message: dict[str, Any]) -> Job:
        return decode_message(message, self.pipeline, self.options.priority)

    def _mark(self, ok: bool, what: str = "", exc: BaseException | None = None) -> None:
        if ok and not self._connected:
            log.info("sqs pipeline %s: queue %s reachable again", self.pipeline,
                     self.config.queue)
        if not ok:
            log.warning("sqs pipeline %s: %s failed: %s", self.pipeline, what, describe(exc))
        self._connected = ok

    # sending -----------------------------------------------------------------------
    async def push(self, job: Job) -> None:
        if job.delay > MAX_DELAY and self.config.fifo:
            raise RRError(f"unable to push, maximum possible delay is {MAX_DELAY} seconds "
                          f"(15 minutes), provided: {job.delay}")
        await self.send(job, job.delay, fresh_dedup=False)

    async def send(self, job: Job, delay: int, *, fresh_dedup: bool,
                   delay_until: float | None = None) -> None:
        client = await self._ensure()
        priority = job.priority or self.options.priority
        body, encoded = encode_body(job.payload)
        attrs = encode_attributes(job, job.delay, priority)
        if encoded:
            attrs["rr_body_encoding"] = _string("base64")
        if delay_until is None and delay > MAX_DELAY:
            delay_until = time.time() + delay
        if delay_until is not None:
            attrs["rr_delay_until"] = {"DataType": "Number",
                                       "StringValue": str(int(delay_until))}
        kwargs: dict[str, Any] = {"QueueUrl": self.url, "MessageBody": body,
                                  "MessageAttributes": attrs}
        if self.config.fifo:
            # per-message delays do not exist on FIFO queues (as in RoadRunner)
            kwargs["MessageDeduplicationId"] = job.id if job.id and not fresh_dedup \
                else str(uuid.uuid4())
            kwargs["MessageGroupId"] = self.config.message_group_id or self.pipeline
        else:
            kwargs["DelaySeconds"] = max(0, min(delay, MAX_DELAY))
            if self.config.message_group_id:
                kwargs["MessageGroupId"] = self.config.message_group_id
        # The endpoint may be unreachable for a while: keep trying (backoff capped at 2 s,
        # as RoadRunner's SDK retries) until jobs.timeout, then fail the push.
        deadline = time.monotonic() + self.options.timeout
        backoff = 0.1
        while True:
            try:
                await client.send_message(**kwargs)
            except BotoCoreError as exc:
                self._mark(False, "SendMessage", exc)
                if time.monotonic() + backoff >= deadline:
                    raise RRError(f"sqs: push to {self.config.queue} failed: {exc}") from exc
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            except (ClientError, OSError) as exc:
                self._mark(False, "SendMessage", exc)
                raise RRError(f"sqs: push to {self.config.queue} failed: {exc}") from exc
            self._mark(True)
            return

    async def delete(self, receipt: str) -> None:
        """Delete one received message; shares a DeleteMessageBatch with its neighbours."""
        await self._deletes.delete(receipt)

    async def _delete_batch(self, receipts: list[str]) -> dict[int, str]:
        client = await self._ensure()
        reply = await client.delete_message_batch(QueueUrl=self.url, Entries=[
            {"Id": str(i), "ReceiptHandle": r} for i, r in enumerate(receipts)])
        return {int(f["Id"]): f"{f.get('Code', '')}: {f.get('Message', '')}"
                for f in reply.get("Failed") or []}

    async def change_visibility(self, receipt: str, seconds: int) -> None:
        client = await self._ensure()
        try:
            await client.change_message_visibility(QueueUrl=self.url, ReceiptHandle=receipt,
                                                   VisibilityTimeout=seconds)
        except ClientError as exc:
            if "NotInFlight" not in _error_code(exc):  # already visible again: fine
                raise

    def settled(self, delivery: SQSDelivery) -> None:
        self._unsettled.discard(delivery)
        asyncio.ensure_future(self._notify_room())

    async def _notify_room(self) -> None:
        async with self._room:
            self._room.notify_all()

    # receiving ---------------------------------------------------------------------
    async def _receive_loop(self) -> None:
        cfg = self.config
        backoff = 0.5
        while not self._stopping.is_set():
            async with self._room:
                await self._room.wait_for(lambda: len(self._unsettled) < cfg.max_in_flight
                                          or self._stopping.is_set())
            if self._stopping.is_set():
                return
            want = min(cfg.prefetch, cfg.max_in_flight - len(self._unsettled))
            kwargs: dict[str, Any] = {
                "QueueUrl": self.url, "MaxNumberOfMessages": want,
                "WaitTimeSeconds": cfg.wait_time,
                "MessageSystemAttributeNames": ["All"], "MessageAttributeNames": ["All"]}
            if cfg.visibility_timeout > 0:
                kwargs["VisibilityTimeout"] = cfg.visibility_timeout
            try:
                client = await self._ensure()
                reply = await client.receive_message(**kwargs)
            except (ClientError, BotoCoreError, OSError) as exc:
                self._mark(False, "ReceiveMessage", exc)
                if _error_code(exc) in _MISSING_QUEUE and not cfg.skip_declaration:
                    with contextlib.suppress(ClientError, BotoCoreError, OSError):
                        self.url = await self._declare(self._client)
                await asyncio.sleep(backoff)  # RoadRunner spins here; a backoff is kinder
                backoff = min(backoff * 2, 10.0)
                continue
            backoff = 0.5
            self._mark(True)
            for message in reply.get("Messages") or []:
                if self._stopping.is_set():
                    await self.return_messages([str(message.get("ReceiptHandle", ""))])
                    continue
                try:
                    await self._handle(message)
                except (ClientError, BotoCoreError, OSError, RRError) as exc:
                    # not handed over: it reappears after its visibility timeout
                    log.warning("sqs pipeline %s: message %s left for redelivery: %s",
                                self.pipeline, message.get("MessageId", "?"), exc)

    async def _handle(self, message: dict[str, Any]) -> None:
        attrs = message.get("MessageAttributes") or {}
        receipt = str(message.get("ReceiptHandle", ""))
        if "rr_delay_until" in attrs:
            until = float(_attr_text(attrs["rr_delay_until"]))
            if until - time.time() >= 1:  # received early: send on with what is left
                job = decode_message(message, self.pipeline, self.options.priority)
                job.headers = json.loads(_attr_text(attrs["rr_headers"])) \
                    if "rr_headers" in attrs else {}
                await self.send(job, int(until - time.time()), fresh_dedup=False,
                                delay_until=until)
                await self.delete(receipt)
                return
        job = decode_message(message, self.pipeline, self.options.priority)
        if job.auto_ack:
            try:
                await self.delete(receipt)
            except (ClientError, BotoCoreError, OSError, RRError) as exc:
                log.warning("sqs pipeline %s: auto-ack delete failed, skipping job %s: %s",
                            self.pipeline, job.id, exc)
                return
        delivery = SQSDelivery(self, message, job)
        self._unsettled.add(delivery)
        await self.sink(delivery)

    async def return_messages(self, receipts: list[str]) -> None:
        """Make received-but-unstarted messages visible again right away."""
        if not receipts or self._client is None:
            return
        for start in range(0, len(receipts), 10):
            entries = [{"Id": str(i), "ReceiptHandle": r, "VisibilityTimeout": 0}
                       for i, r in enumerate(receipts[start:start + 10])]
            try:
                await self._client.change_message_visibility_batch(QueueUrl=self.url,
                                                                   Entries=entries)
            except (ClientError, BotoCoreError, OSError) as exc:
                log.warning("sqs pipeline %s: could not return %d messages (they reappear "
                            "after the visibility timeout): %s", self.pipeline,
                            len(entries), exc)

    async def _keep_invisible(self) -> None:
        """While rr holds a message (queued or in a worker) its visibility is extended every
        third of ``visibility_timeout``, so a job that runs longer than the timeout is not
        handed to a second consumer meanwhile (RoadRunner lets it expire). If rr dies the
        extensions stop and the message reappears one timeout later."""
        timeout = self.config.visibility_timeout
        while True:
            await asyncio.sleep(max(timeout / 3, 1))
            receipts = [d.receipt for d in list(self._unsettled) if not d.job.auto_ack]
            for start in range(0, len(receipts), 10):
                entries = [{"Id": str(i), "ReceiptHandle": r, "VisibilityTimeout": timeout}
                           for i, r in enumerate(receipts[start:start + 10])]
                try:
                    await self._client.change_message_visibility_batch(QueueUrl=self.url,
                                                                       Entries=entries)
                except (ClientError, BotoCoreError, OSError) as exc:
                    log.warning("sqs pipeline %s: extending visibility failed: %s",
                                self.pipeline, exc)

    async def run(self) -> None:
        if self._loop_task is not None:
            raise RRError("sqs listener is already in the active state")
        await self._ensure()
        if self._heartbeat is None and self.config.visibility_timeout > 0:
            self._heartbeat = asyncio.create_task(self._keep_invisible(),
                                                  name=f"sqs-visibility-{self.pipeline}")
        self._stopping.clear()
        self._loop_task = asyncio.create_task(self._receive_loop(),
                                              name=f"sqs-receive-{self.pipeline}")

    async def _stop_loop(self) -> None:
        task, self._loop_task = self._loop_task, None
        if task is None:
            return
        self._stopping.set()
        await self._notify_room()
        # let an in-progress receive finish so that its messages are not stranded
        try:
            await asyncio.wait_for(asyncio.shield(task), self.config.wait_time + 5)
        except (TimeoutError, Exception):  # noqa: BLE001 - the loop logs its own errors
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def pause(self) -> None:
        if self._loop_task is None:
            raise RRError("no active listeners, nothing to pause")
        await self._stop_loop()

    async def resume(self) -> None:
        await self.run()

    async def stop(self) -> None:
        """Unsettled messages are made visible again at once rather than after their
        visibility timeout (RoadRunner leaves them to time out)."""
        if self.stopped:
            return
        await self._stop_loop()
        await self.dead_letters_done()
        await self._deletes.flush()
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        await self.return_messages([d.receipt for d in self._unsettled if not d.job.auto_ack])
        self._unsettled.clear()
        self.stopped = True
        await self._stack.aclose()
        self._client = None

    def dead_letter_session(self) -> SQSDeadLetters:
        """Dead letters are listed and replayed in place (see sqs_dlq)."""
        return SQSDeadLetters(self)

    async def state(self) -> PipelineState:
        st = PipelineState(pipeline=self.pipeline, driver=self.kind, queue=self.url,
                           ready=self._loop_task is not None, priority=self.options.priority)
        try:
            client = await self._ensure()
            st.queue = self.url
            reply = await client.get_queue_attributes(QueueUrl=self.url, AttributeNames=[
                "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed",
                "ApproximateNumberOfMessagesNotVisible"])
            attrs = reply.get("Attributes") or {}
            st.active = int(attrs.get("ApproximateNumberOfMessages", 0))
            st.delayed = int(attrs.get("ApproximateNumberOfMessagesDelayed", 0))
            st.reserved = int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0))
            self._mark(True)
        except (ClientError, BotoCoreError, OSError, RRError) as exc:
            self._mark(False, "GetQueueAttributes", exc)
            st.error = str(exc)
        st.connected = self._connected and not self.stopped
        return st
