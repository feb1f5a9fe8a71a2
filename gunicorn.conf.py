"""gunicorn reads ./gunicorn.conf.py by itself: the Procfile's command line stays the only place for
its tuning options. This file holds what follows from our own configuration instead:

- gunicorn's own error and access lines take our format (LOG_FORMAT): with json, an access line is
  {"method", "path", "status", "bytes", "duration_ms", "remote", ...};
- the control socket (`gunicornc`) lives in the state folder (STATE_DIR), not in the one
  ~/.gunicorn/gunicorn.ctl that every gunicorn of the user would share: a second checkout's web
  would take it over, and stopping either would remove the other's;
- a SECRET_KEY the settings would refuse (DEBUG off: missing, short, a placeholder) stops gunicorn
  before it starts a worker, in one line, instead of a worker's traceback at every boot.
"""

import sys

from gunicorn.glogging import Logger

from pipeline import logs

# not `config`: every name here is read as a gunicorn setting
from pipeline.config import ConfigError, load_local_env, secret_key, state_dir


class InvoicemailLogger(Logger):
    def setup(self, cfg):
        super().setup(cfg)
        formatter = logs.formatter_class()()
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(formatter)


logger_class = InvoicemailLogger
control_socket = str(state_dir() / "gunicorn.ctl")


def on_starting(server):
    load_local_env()  # as the settings do: make run's DEBUG and key
    try:
        secret_key()
    except ConfigError as exc:
        server.log.error("not starting: %s", exc)
        sys.exit(2)
