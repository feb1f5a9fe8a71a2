"""What a worker's heartbeat says of its threads, and when that makes the process stuck (pipeline/heartbeat.py)."""

from __future__ import annotations

from pipeline.heartbeat import STUCK_GRACE_SECONDS, Beat, ThreadState

NOW = 1_800_000_000.0
LIMIT = 120.0
PAST = NOW - LIMIT - STUCK_GRACE_SECONDS - 1  # busy since then: past the limit and the grace
WITHIN = NOW - LIMIT - STUCK_GRACE_SECONDS + 5  # past the limit, within the grace


def test_a_beat_reads_back_as_written_and_a_bare_time_still_reads():
    beat = Beat(at=NOW, threads=(ThreadState(PAST, LIMIT), ThreadState()))
    assert Beat.decode(beat.encode()) == beat
    assert Beat.decode(b"1800000000.250") == Beat(at=1_800_000_000.25)
    assert Beat.decode(b"not a beat") is None
    assert Beat.decode(b'{"at": 1, "threads": [["x", 1]]}') is None


def test_stuck_only_when_every_thread_is_busy_past_its_limit_and_the_grace():
    assert Beat(at=NOW, threads=(ThreadState(PAST, LIMIT), ThreadState(PAST, 2.0))).stuck(now=NOW)
    assert not Beat(at=NOW, threads=(ThreadState(PAST, LIMIT), ThreadState())).stuck(now=NOW), "one thread idle"
    assert not Beat(at=NOW, threads=(ThreadState(PAST, LIMIT), ThreadState(WITHIN, LIMIT))).stuck(now=NOW)
    assert not Beat(at=NOW, threads=(ThreadState(PAST, None),)).stuck(now=NOW), "no time limit: never past it"
    assert not Beat(at=NOW).stuck(now=NOW), "a scheduler's beat has no worker threads"


def test_the_time_limit_recorded_is_the_one_dramatiq_applies():
    from dramatiq import Message

    from pipeline.actors import broker
    from pipeline.middleware.heartbeat import Heartbeat

    def message(actor_name: str, **options: int) -> Message:
        return Message(queue_name="render", actor_name=actor_name, args=(1,), kwargs={}, options=options)

    assert Heartbeat.time_limit_seconds(broker, message("render_attachment")) == 120  # the actor's 2 minutes
    assert Heartbeat.time_limit_seconds(broker, message("render_attachment", time_limit=5000)) == 5
    assert Heartbeat.time_limit_seconds(broker, message("no_such_actor")) is None
