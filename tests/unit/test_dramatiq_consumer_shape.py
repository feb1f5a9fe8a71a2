"""pipeline/wakeup.py wraps Dramatiq's private Redis consumer: these fail when the upstream parts it relies on change.

WakeableConsumer passes 0 as the consumer's `timeout`, calls the upstream `__next__`, and when
that returns None waits itself. That is right only while the upstream `__next__`:
  - sleeps once, `compute_backoff(self.misses, max_backoff=self.timeout)` ms, when it fetched nothing,
  - returns None then and only then, having counted the miss in `self.misses`,
  - and while `compute_backoff(..., max_backoff=0)` is 0 ms.
If one of these tests fails after a Dramatiq upgrade, read the new `_RedisConsumer` and
`compute_backoff`, re-check the three points above against pipeline/wakeup.py, run
tests/integration/test_wakeup.py, then update the digests here and the pin in pyproject.toml.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import textwrap
import time

import dramatiq
import redis
from dramatiq.brokers import redis as dramatiq_redis
from dramatiq.brokers.redis import _RedisConsumer
from dramatiq.common import compute_backoff

from pipeline import wakeup

RECHECK = "re-check pipeline/wakeup.py's WakeableConsumer against it (see this module's docstring)"

#: Digests of the upstream code, docstrings, comments and formatting left out, as in dramatiq 2.0.0 to 2.2.1.
UPSTREAM_DIGESTS = {
    "_RedisConsumer.__next__": "103e605b0cf750fd8433d4812f832563473a77b3ede75f633972e960255e2029",
    "_RedisConsumer.__init__": "b6492ac541bddb5257aaf566929d9f8cbb9d4f79d3e5cdaa393b8160033d38d7",
    "compute_backoff": "b174d67fff95acf5d8263db38ec0e532ffa9e923e083f4642f07f223461764fc",
}

#: The one branch of upstream `__next__` that WakeableConsumer replaces the sleep of.
IDLE_BRANCH = """\
if not messages:
    self.misses, backoff_ms = compute_backoff(self.misses, max_backoff=self.timeout)
    time.sleep(backoff_ms / 1000)
    return None"""


def _tree(function) -> ast.AST:
    return ast.parse(textwrap.dedent(inspect.getsource(function)))


def _digest(function) -> str:
    (definition,) = _tree(function).body
    if ast.get_docstring(definition) is not None:
        definition.body = definition.body[1:]
    return hashlib.sha256(ast.unparse(definition).encode()).hexdigest()


def _parameters(function) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_the_wrapped_methods_keep_their_signatures():
    assert _parameters(_RedisConsumer.__init__) == ["self", "broker", "queue_name", "prefetch", "timeout"], RECHECK
    assert _parameters(_RedisConsumer.__next__) == ["self"], RECHECK
    assert _parameters(_RedisConsumer.ack) == ["self", "message"], RECHECK
    assert _parameters(_RedisConsumer.nack) == ["self", "message"], RECHECK
    assert _parameters(compute_backoff)[:1] == ["attempts"], RECHECK
    assert "max_backoff" in _parameters(compute_backoff), RECHECK


def test_next_sleeps_only_in_the_idle_branch_and_returns_none_only_there():
    tree = _tree(_RedisConsumer.__next__)
    sleeps = [node for node in ast.walk(tree) if isinstance(node, ast.Call) and "sleep" in ast.unparse(node.func)]
    assert len(sleeps) == 1, f"upstream __next__ no longer sleeps exactly once: {RECHECK}"
    branches = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and any(getattr(statement, "value", None) is sleeps[0] for statement in node.body)
    ]
    assert len(branches) == 1, f"upstream __next__ no longer sleeps in an `if`: {RECHECK}"
    branch = branches[0]
    assert ast.unparse(branch) == IDLE_BRANCH, f"upstream's idle sleep changed: {RECHECK}"
    none_returns = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Return) and ast.unparse(node) in ("return", "return None")
    ]
    assert none_returns == [branch.body[-1]], f"upstream __next__ returns None elsewhere too: {RECHECK}"
    assert dramatiq_redis.time is time, f"upstream's `time` is no longer the standard module: {RECHECK}"


def test_a_zero_ceiling_gives_a_zero_backoff():
    # compute_backoff jitters at random: many draws at every exponent it can reach.
    backoffs = {compute_backoff(attempts, max_backoff=0)[1] for attempts in range(40) for _ in range(50)}
    assert backoffs == {0}, f"compute_backoff(..., max_backoff=0) is no longer 0 ms, so upstream would sleep: {RECHECK}"


def test_the_consumer_keeps_the_state_upstream_next_reads(redis_client, redis_url):
    broker = wakeup.WakeableRedisBroker(client=redis.Redis.from_url(redis_url), middleware=[], namespace="shape-test")
    broker.declare_queue("default")
    consumer = broker.consume("default", prefetch=2, timeout=1000)
    try:
        assert isinstance(consumer, _RedisConsumer)
        state = (consumer.queue_name, consumer.prefetch, consumer.timeout, consumer.misses)
        assert state == ("default", 2, 0, 0), f"upstream __next__ would not see timeout 0 and misses 0: {RECHECK}"
        assert _RedisConsumer.__next__(consumer) is None  # the upstream one alone: the queue is empty
        assert consumer.misses == 1, f"upstream no longer counts an empty fetch in `misses`: {RECHECK}"
    finally:
        consumer.close()
        broker.close()


def test_the_upstream_code_is_the_one_checked():
    digests = {
        "_RedisConsumer.__next__": _digest(_RedisConsumer.__next__),
        "_RedisConsumer.__init__": _digest(_RedisConsumer.__init__),
        "compute_backoff": _digest(compute_backoff),
    }
    changed = sorted(name for name, digest in digests.items() if UPSTREAM_DIGESTS[name] != digest)
    assert not changed, (
        f"dramatiq {dramatiq.__version__} changed {', '.join(changed)}: {RECHECK}, "
        f"then set UPSTREAM_DIGESTS to {digests}"
    )
