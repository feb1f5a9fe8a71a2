"""gunicorn reads ./gunicorn.conf.py by itself: the Procfile's command line stays the only place for
its tuning options. This file holds what follows from our own configuration instead:

- gunicorn's own error and access lines take our format (LOG_FORMAT): with json, an access line is
  {"method", "path", "status", "bytes", "duration_ms", "remote", ...};
- the control socket (`gunicornc`) lives in the state folder (STATE_DIR), not in the one
  ~/.gunicorn/gunicorn.ctl that every gunicorn of the user would share: a second checkout's web
  would take it over, and stopping either would remove the other's.
"""

from gunicorn.glogging import Logger

from pipeline import logs
from pipeline.config import state_dir  # not `config`: every name here is read as a gunicorn setting


class InvoicemailLogger(Logger):
    def setup(self, cfg):
        super().setup(cfg)
        formatter = logs.formatter_class()()
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(formatter)


logger_class = InvoicemailLogger
control_socket = str(state_dir() / "gunicorn.ctl")
