"""PHP commands → sdk-core commands, in process (no PHP, no server): spec §13.4, §13.5."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rr.temporal import codec
from rr.temporal.commands import TIMER, CommandError, PanicError, RunState, Translator


def run_state(replaying: bool = False) -> RunState:
    r = RunState(run_id="run-1", workflow_id="wf", workflow_type="T", task_queue="tq",
                 namespace="default", ww_pid=1)
    r.replaying = replaying
    return r


def cmd(name: str, options: dict[str, Any] | None = None, msg_id: int = 10**15,
        **kw: Any) -> Any:
    return codec.command(name, options, msg_id=msg_id, **kw)


def kinds(tr: Translator) -> list[str]:
    return [c.WhichOneof("variant") for c in tr.commands]


def answer(m: Any) -> Any:
    return json.loads(m.payloads.payloads[0].data) if m.payloads.payloads else None


def test_activity_options_map_onto_schedule_activity() -> None:
    tr = Translator(run_state())
    tr.walk([cmd("ExecuteActivity", {"name": "A.b", "options": {
        "TaskQueueName": None, "StartToCloseTimeout": 1_500_000_000,
        "WaitForCancellation": True, "Summary": "s",
        "Priority": {"priority_key": 2, "fairness_key": "", "fairness_weight": 0},
        "RetryPolicy": {"initial_interval": {"seconds": 1, "nanos": 0},
                        "backoff_coefficient": 2.0, "maximum_attempts": 3}}},
        payloads=[codec.json_payload("x")])])
    (c,) = tr.commands
    sa = c.schedule_activity
    assert (sa.seq, sa.activity_id, sa.activity_type, sa.task_queue) == (1, "1", "A.b", "tq")
    assert sa.start_to_close_timeout.ToNanoseconds() == 1_500_000_000
    assert sa.cancellation_type == 1 and sa.retry_policy.maximum_attempts == 3
    assert sa.retry_policy.initial_interval.seconds == 1
    assert sa.priority.priority_key == 2
    assert json.loads(c.user_metadata.summary.data) == "s"


def test_get_version_new_run_records_a_patch_marker() -> None:
    run = run_state()
    tr = Translator(run)
    tr.walk([cmd("GetVersion", {"changeID": "c", "minSupported": -1, "maxSupported": 2})])
    assert kinds(tr) == ["set_patch_marker"]
    assert tr.commands[0].set_patch_marker.patch_id == "c-2"
    assert answer(tr.immediate[0]) == 2
    tr2 = Translator(run)  # the second call for the same change id reuses the version
    tr2.walk([cmd("GetVersion", {"changeID": "c", "minSupported": -1, "maxSupported": 5})])
    assert tr2.commands == [] and answer(tr2.immediate[0]) == 2


def test_get_version_replay_without_marker_is_the_default_version() -> None:
    tr = Translator(run_state(replaying=True))
    tr.walk([cmd("GetVersion", {"changeID": "c", "minSupported": -1, "maxSupported": 1})])
    assert tr.commands == [] and answer(tr.immediate[0]) == -1


def test_get_version_from_a_notified_patch_by_prefix() -> None:
    run = run_state(replaying=True)
    run.patches.update({"c-x-7", "c-3"})  # "c-x-7" belongs to change id "c-x"
    tr = Translator(run)
    tr.walk([cmd("GetVersion", {"changeID": "c", "minSupported": 1, "maxSupported": 3})])
    assert answer(tr.immediate[0]) == 3
    assert tr.commands[0].set_patch_marker.patch_id == "c-3"


def test_get_version_range_errors() -> None:
    run = run_state(replaying=True)
    with pytest.raises(CommandError, match=r"\[TMPRL1100\] Workflow code removed support"):
        Translator(run).walk([cmd("GetVersion", {"changeID": "c", "minSupported": 0,
                                                 "maxSupported": 1})])


def test_cancel_timer_answers_php_itself() -> None:
    run = run_state()
    tr = Translator(run)
    tr.walk([cmd("NewTimer", {"ms": 5000}, msg_id=7)])
    assert run.by_php[7] == (TIMER, 1)
    tr2 = Translator(run)
    tr2.walk([cmd("Cancel", {"ids": [7, 99]}, msg_id=8)])
    assert kinds(tr2) == ["cancel_timer"]
    failure, done = tr2.immediate
    assert failure.id == 7 and failure.failure.message == "canceled"
    assert failure.failure.HasField("canceled_failure_info")
    assert done.id == 8 and answer(done) == "completed"


def test_zero_and_negative_timers_need_no_command() -> None:
    tr = Translator(run_state())
    tr.walk([cmd("NewTimer", {"ms": 0}, msg_id=1), cmd("NewTimer", {"ms": -5}, msg_id=2)])
    assert tr.commands == []
    ok, bad = tr.immediate
    assert not ok.HasField("failure") and bad.failure.message.startswith("negative duration")


def test_walk_stops_after_the_terminal_command() -> None:
    tr = Translator(run_state())
    tr.walk([cmd("CompleteWorkflow", {}, payloads=[codec.json_payload(1)]),
             cmd("NewTimer", {"ms": 10})])
    assert kinds(tr) == ["complete_workflow_execution"]


def test_completion_with_canceled_failure_cancels_the_workflow() -> None:
    from rr.temporal import failures

    tr = Translator(run_state())
    tr.walk([cmd("CompleteWorkflow", {}, failure=failures.canceled())])
    assert kinds(tr) == ["cancel_workflow_execution"]


def test_unknown_command_and_panic() -> None:
    with pytest.raises(CommandError, match="undefined command name: Nope"):
        Translator(run_state()).walk([cmd("Nope")])
    from rr.temporal import failures

    with pytest.raises(PanicError):
        Translator(run_state()).walk([cmd("Panic", failure=failures.application("x"))])
    with pytest.raises(CommandError, match="undefined response: lost"):
        Translator(run_state()).walk([cmd("UndefinedResponse", {"message": "lost"})])


def test_side_effect_is_a_reserved_local_activity() -> None:
    from rr.temporal.activities import SIDE_EFFECT_TYPE

    tr = Translator(run_state())
    tr.walk([cmd("SideEffect", {}, payloads=[codec.json_payload(42)])])
    la = tr.commands[0].schedule_local_activity
    assert la.activity_type == SIDE_EFFECT_TYPE and la.retry_policy.maximum_attempts == 1
    assert json.loads(la.arguments[0].data) == 42


def test_malformed_options_are_an_envelope_error() -> None:
    m = codec.command("NewTimer")
    m.options = b"{not json"
    with pytest.raises(codec.EnvelopeError):
        Translator(run_state()).walk([m])
