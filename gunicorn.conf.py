"""gunicorn reads ./gunicorn.conf.py by itself: the Procfile's command line stays the only place for
its options. This file only gives gunicorn's own error and access lines our format (LOG_FORMAT):
with json, an access line is {"method", "path", "status", "bytes", "duration_ms", "remote", ...}."""

from gunicorn.glogging import Logger

from pipeline import logs


class InvoicemailLogger(Logger):
    def setup(self, cfg):
        super().setup(cfg)
        formatter = logs.formatter_class()()
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(formatter)


logger_class = InvoicemailLogger
