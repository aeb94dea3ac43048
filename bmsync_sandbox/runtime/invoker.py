"""Loading and calling handlers the way the Lambda runtime does: by file path, with a context object."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import threading
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

from bmsync.catalog import FUNCTIONS, FunctionSpec
from bmsync.catalog import FUNCTIONS_DIR as DEFAULT_FUNCTIONS_DIR
from bmsync.clock import Clock
from bmsync_sandbox.runtime.local_aws import ACCOUNT_ID, REGION

Handler = Callable[[dict[str, Any], Any], Any]


class HandlerMissing(Exception):
    """The function's ``handler.py`` does not exist (yet)."""


class LambdaContext:
    """What the Lambda runtime hands a handler as ``context`` (what Powertools reads from it)."""

    def __init__(self, spec: FunctionSpec, clock: Clock) -> None:
        self.function_name = spec.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{spec.name}"
        self.memory_limit_in_mb = spec.memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{spec.name}"
        self.log_stream_name = f"local/{self.aws_request_id}"
        self.identity = None
        self.client_context = None
        self._clock = clock
        self._deadline = clock.monotonic() + spec.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - self._clock.monotonic()) * 1000))


@dataclass
class Invocation:
    """One call of a handler: what came back, or the error it raised (as Lambda would report it)."""

    function: str
    request_id: str
    result: Any = None
    error: str | None = None
    error_type: str | None = None
    stack: list[str] = field(default_factory=list)
    duration_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class DelayedMessage:
    """A message on a function's rerun queue (``bmsync.rerun``): delivered once ``due``."""

    due: datetime
    function: str
    body: dict[str, Any]

    def sqs_event(self, sent: datetime) -> dict[str, Any]:
        """The batch Lambda's SQS event source hands the function (batch size 1)."""
        text = json.dumps(self.body)
        millis = str(int(sent.timestamp() * 1000))
        return {
            "Records": [
                {
                    "messageId": str(uuid.uuid4()),
                    "receiptHandle": f"local-{uuid.uuid4().hex}",
                    "body": text,
                    "attributes": {
                        "ApproximateReceiveCount": "1",
                        "SentTimestamp": millis,
                        "SenderId": ACCOUNT_ID,
                        "ApproximateFirstReceiveTimestamp": str(int(self.due.timestamp() * 1000)),
                    },
                    "messageAttributes": {},
                    "md5OfBody": hashlib.md5(text.encode(), usedforsecurity=False).hexdigest(),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{self.function}-reruns",
                    "awsRegion": REGION,
                }
            ]
        }


class Invoker:
    """Loads each ``functions/<name>/handler.py`` once (a warm container) and invokes it.

    Invocations of one function are serialized, as in one warm Lambda container; different functions
    run side by side. An asynchronous invoke from a handler (a scheduled run's fan-out,
    :meth:`invoke_async`) is queued, as Lambda queues it, and run by :meth:`run_queued` once the
    invoking call has returned. A rerun request (:meth:`request_rerun`, SQS's ``DelaySeconds``) waits
    on the clock until :meth:`due_reruns` hands it out (the scheduler delivers it).
    """

    def __init__(
        self,
        clock: Clock,
        *,
        functions_dir: Path = DEFAULT_FUNCTIONS_DIR,
        specs: tuple[FunctionSpec, ...] = FUNCTIONS,
    ) -> None:
        self.clock = clock
        self.functions_dir = functions_dir
        self.specs = {spec.name: spec for spec in specs}
        self._handlers: dict[str, Handler] = {}
        self._locks = {name: threading.Lock() for name in self.specs}
        self._load_lock = threading.Lock()
        self._queued: list[tuple[str, dict[str, Any]]] = []
        self._queue_lock = threading.Lock()
        self._delayed: list[tuple[datetime, DelayedMessage]] = []  # (sent, message)

    def handler_path(self, name: str) -> Path:
        return self.functions_dir / name / "handler.py"

    def available(self, name: str) -> bool:
        return self.handler_path(name).is_file()

    def _handler(self, name: str) -> Handler:
        with self._load_lock:
            if name not in self._handlers:
                self._handlers[name] = _load_handler(name, self.handler_path(name))
            return self._handlers[name]

    def invoke_async(self, function_arn: str, event: dict[str, Any]) -> None:
        """Lambda's ``InvocationType=Event`` (``bmsync.fan_out``): queue the event for :meth:`run_queued`."""
        name = function_arn.rsplit(":", 1)[-1]
        if name not in self.specs:
            raise ValueError(f"no function {name!r} to invoke")
        with self._queue_lock:
            self._queued.append((name, event))

    def request_rerun(self, event: dict[str, Any], delay_seconds: int) -> None:
        """``bmsync.rerun``'s port: the message waits ``delay_seconds`` on this invoker's clock."""
        name = str(event.get("function"))
        spec = self.specs.get(name)
        if spec is None or spec.rerun_after_seconds is None:
            raise ValueError(f"no rerun queue for {name!r}")
        sent = self.clock.now()
        with self._queue_lock:
            self._delayed.append((sent, DelayedMessage(sent + timedelta(seconds=delay_seconds), name, event)))

    def next_rerun_due(self) -> datetime | None:
        """When the earliest waiting rerun is due (None: none waits)."""
        with self._queue_lock:
            return min((message.due for _, message in self._delayed), default=None)

    def take_due_rerun(self, now: datetime) -> tuple[DelayedMessage, dict[str, Any]] | None:
        """The earliest rerun due at ``now``, taken off its queue, with the SQS event that delivers it."""
        with self._queue_lock:
            due = [item for item in self._delayed if item[1].due <= now]
            if not due:
                return None
            earliest = min(due, key=lambda item: item[1].due)
            self._delayed.remove(earliest)
        sent, message = earliest
        return message, message.sqs_event(sent)

    def run_queued(self) -> list[tuple[dict[str, Any], Invocation]]:
        """Run what handlers invoked asynchronously, each as its own invocation (and its own failure):
        each event with its invocation."""
        ran: list[tuple[dict[str, Any], Invocation]] = []
        while True:
            with self._queue_lock:
                if not self._queued:
                    return ran
                name, event = self._queued.pop(0)
            ran.append((event, self.invoke(name, event)))

    def invoke(self, name: str, event: dict[str, Any]) -> Invocation:
        """Call the handler with ``event``; a raised exception becomes the invocation's error.

        A handler module that fails to import is a failed invocation too (Lambda's
        ``Runtime.ImportModuleError``), tried again on the next invocation; a missing handler file
        raises :class:`HandlerMissing`.
        """
        with self._locks[name]:
            return self._call(name, event, lambda: self._handler(name))

    def invoke_in_new_container(self, name: str, event: dict[str, Any]) -> Invocation:
        """Call the handler in another container of the function, while the warm one may be busy (as
        Lambda does when invocations overlap): its own handler module, a cold start, no wait for the
        warm container. The layer's modules are still this process's (a limit of running in one)."""
        return self._call(name, event, lambda: _load_handler(name, self.handler_path(name)))

    def _call(self, name: str, event: dict[str, Any], load: Callable[[], Handler]) -> Invocation:
        context = LambdaContext(self.specs[name], self.clock)
        invocation = Invocation(function=name, request_id=context.aws_request_id)
        started = self.clock.monotonic()
        try:
            handler = load()
        except HandlerMissing:
            raise
        except Exception as error:
            _record_error(invocation, error, "Runtime.ImportModuleError")
            return invocation
        try:
            invocation.result = handler(event, context)
        except Exception as error:
            _record_error(invocation, error, type(error).__name__)
        invocation.duration_ms = (self.clock.monotonic() - started) * 1000
        return invocation


def _record_error(invocation: Invocation, error: Exception, error_type: str) -> None:
    invocation.error = str(error) or type(error).__name__
    invocation.error_type = error_type
    invocation.stack = traceback.format_exception(error)


def _load_handler(name: str, path: Path) -> Handler:
    if not path.is_file():
        raise HandlerMissing(f"{name}: {path} does not exist yet")
    spec = importlib.util.spec_from_file_location(f"bmsync_function_{name}", path)
    if spec is None or spec.loader is None:
        raise HandlerMissing(f"{name}: {path} cannot be loaded")
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handler = getattr(module, "handler", None)
    if not callable(handler):
        raise HandlerMissing(f"{name}: {path} has no handler(event, context)")
    return handler
