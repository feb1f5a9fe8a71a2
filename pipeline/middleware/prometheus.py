"""Dramatiq's Prometheus middleware, on only with WORKER_PROMETHEUS=true.

Dramatiq's middleware keeps its metrics in a multiprocess folder (`dramatiq_prom_db`, default
`$TMPDIR/dramatiq-prometheus`) and forks an HTTP exposition server per worker master, on
`dramatiq_prom_host:dramatiq_prom_port` (0.0.0.0:9191). That fork costs a process (~25 MB) and a
port only a cluster can scrape (Kubernetes: a pod annotation); on a PaaS, where only the web port is
public, leave it off and read the pipeline's counters at the web's `/metrics`.

Processes that only enqueue (web, commands) never boot a worker, so the counters Dramatiq creates at
boot do not exist there: those hooks are skipped instead of raising.
"""

from __future__ import annotations

from typing import Any

from dramatiq import Broker, Message, Worker
from dramatiq.broker import MessageProxy
from dramatiq.middleware.prometheus import Prometheus


class WorkerPrometheus(Prometheus):
    def _booted(self) -> bool:
        return hasattr(self, "total_messages")

    def after_enqueue(self, broker: Broker, message: Message[Any], delay: int) -> None:
        if self._booted():
            super().after_enqueue(broker, message, delay)

    def after_nack(self, broker: Broker, message: MessageProxy) -> None:
        if self._booted():
            super().after_nack(broker, message)

    def before_delay_message(self, broker: Broker, message: MessageProxy) -> None:
        if self._booted():
            super().before_delay_message(broker, message)

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        if self._booted():
            super().before_process_message(broker, message)

    def after_process_message(
        self, broker: Broker, message: MessageProxy, *, result: Any = None, exception: BaseException | None = None
    ) -> None:
        if self._booted():
            super().after_process_message(broker, message, result=result, exception=exception)

    after_skip_message = after_process_message

    def after_worker_shutdown(self, broker: Broker, worker: Worker) -> None:
        if self._booted():
            super().after_worker_shutdown(broker, worker)
