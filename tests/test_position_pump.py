"""The position pump: events of every socket stored in groups, each acknowledged in order."""

from __future__ import annotations

import threading
import time

from dispatch.errors import AuthenticationError, ValidationError
from dispatch.web.position_pump import PositionPump

APP = object()


def _check(app, sid, payload):
    if sid == "stranger":
        raise AuthenticationError("unknown connection: reconnect")
    if not isinstance(payload, dict):
        raise ValidationError("send a fix")
    return (int(sid.split("-")[1]), [payload], None, "socket")


class Recorder:
    def __init__(self, fail_with=None):
        self.groups: list[list[tuple]] = []
        self.acks: list[tuple] = []
        self.fail_with = fail_with
        self.lock = threading.Lock()

    def ingest(self, app, reports):
        assert app is APP
        self.groups.append(list(reports))
        if self.fail_with is not None:
            raise self.fail_with
        return [
            ValidationError("team 13 is not yours") if r[0] == 13 else {"ok": True, "team": r[0]}
            for r in reports
        ]

    def ack(self, eio_sid, ack_id, reply):
        with self.lock:
            self.acks.append((eio_sid, ack_id, reply))


def test_a_group_is_stored_in_one_call_and_each_event_gets_its_own_ack():
    rec = Recorder()
    pump = PositionPump(_check, rec.ingest, rec.ack)
    pump.serve(
        [
            (APP, "phone-1", "e1", 1, {"lon": 9.4}),
            (APP, "stranger", "e2", 7, {"lon": 9.4}),
            (APP, "phone-2", "e3", 2, "not a fix"),
            (APP, "phone-13", "e4", 3, {"lon": 9.4}),
            (APP, "phone-2", "e3", None, {"lon": 9.5}),  # sent without a callback: no ack
            (APP, "phone-1", "e1", 4, {"lon": 9.6}),
        ]
    )
    # Refused events never reach the store; the rest is stored in one call, in order.
    assert [[r[0] for r in g] for g in rec.groups] == [[1, 13, 2, 1]]
    by_id = {(e, i): reply for e, i, reply in rec.acks}
    assert len(rec.acks) == 5
    assert by_id[("e1", 1)] == {"ok": True, "team": 1}
    assert by_id[("e2", 7)]["code"] == "unauthenticated" and by_id[("e2", 7)]["status"] == 401
    assert by_id[("e3", 2)] == {
        "ok": False,
        "error": "send a fix",
        "status": 400,
        "code": "invalid",
    }
    assert by_id[("e4", 3)]["error"] == "team 13 is not yours"
    assert by_id[("e1", 4)] == {"ok": True, "team": 1}
    assert [a[1] for a in rec.acks] == [1, 7, 2, 3, 4]  # in the order received


def test_a_failing_store_answers_every_event_with_an_error_and_the_worker_goes_on():
    rec = Recorder(fail_with=RuntimeError("disk I/O error"))
    pump = PositionPump(_check, rec.ingest, rec.ack)
    pump.submit(APP, "phone-1", "e1", 1, {"lon": 9.4})
    pump.submit(APP, "phone-2", "e2", 1, {"lon": 9.4})
    _wait(lambda: len(rec.acks) == 2)
    assert {a[2]["code"] for a in rec.acks} == {"internal"}
    assert all(a[2]["status"] == 500 and "send it again" in a[2]["error"] for a in rec.acks)
    rec.fail_with = None
    pump.submit(APP, "phone-3", "e3", 5, {"lon": 9.4})
    _wait(lambda: len(rec.acks) == 3)
    assert rec.acks[-1] == ("e3", 5, {"ok": True, "team": 3})


def test_events_from_many_threads_are_all_acknowledged_in_groups():
    """While the worker stores a group, the next events queue up and go together."""
    rec = Recorder()
    slow = threading.Event()

    def ingest(app, reports):
        slow.wait(0.05)  # a commit taking a while: the readers keep queueing
        return rec.ingest(app, reports)

    pump = PositionPump(_check, ingest, rec.ack)
    n_threads, per_thread = 8, 25

    def phone(k):
        for i in range(per_thread):
            pump.submit(APP, f"phone-{k}", f"e{k}", i, {"lon": 9.4, "i": i})

    threads = [threading.Thread(target=phone, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    _wait(lambda: len(rec.acks) == n_threads * per_thread)
    assert pump.events == n_threads * per_thread
    assert pump.groups < n_threads * per_thread / 4  # grouped, not one call per event
    for k in range(n_threads):  # each phone's events acknowledged in the order sent
        assert [a[1] for a in rec.acks if a[0] == f"e{k}"] == list(range(per_thread))


def test_a_full_queue_makes_the_sender_wait_not_lose_events():
    rec = Recorder()
    gate = threading.Event()

    def ingest(app, reports):
        gate.wait(5)
        return rec.ingest(app, reports)

    pump = PositionPump(_check, ingest, rec.ack, max_group=2, max_pending=3)
    sent = []

    def phone():
        for i in range(10):
            pump.submit(APP, "phone-1", "e1", i, {"lon": 9.4})
            sent.append(i)

    t = threading.Thread(target=phone)
    t.start()
    time.sleep(0.3)
    assert len(sent) < 10  # blocked behind the full queue
    gate.set()
    t.join(10)
    _wait(lambda: len(rec.acks) == 10)
    assert [a[1] for a in rec.acks] == list(range(10))


def _wait(condition, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)
