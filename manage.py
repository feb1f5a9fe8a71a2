#!/usr/bin/env python
"""Django's command line. What a command cannot use from its settings is one line that says what to
set, with exit status 2, never a traceback; with STATE_DIR unset a command typed in a second terminal
works on the state folder of the `make run` running in this checkout."""

import gc
import os
import sys

#: The exit status of a command that cannot start for its settings (as argparse uses for bad arguments).
SETTINGS_ERROR = 2


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    import redis
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line
    from django.db.utils import OperationalError

    from pipeline import config

    try:
        config.follow_running_state_dir()
        from django.conf import settings

        settings.INSTALLED_APPS  # noqa: B018 (loads the settings now, where what is wrong with them is said)
        execute_from_command_line(sys.argv)
        gc.freeze()  # the process ends here: no final collections over all of Django (a second of CPU)
    except (config.ConfigError, ImproperlyConfigured) as exc:
        return _error(str(exc))
    except redis.ConnectionError as exc:
        if config.get("REDIS_URL"):
            return _error(f"Redis does not answer: {exc}")
        return _error(
            f"set REDIS_URL, or start `make run` with STATE_DIR={config.state_dir()}: its Redis does not answer ({exc})"
        )
    except OperationalError as exc:
        if "no such table" not in str(exc):
            raise
        return _error(
            f"set STATE_DIR to the state folder of a `make run`, or DATABASE_URL: {config.state_dir()} holds no"
            f" migrated database ({exc}); `manage.py migrate` makes one"
        )
    return 0


def _error(line: str) -> int:
    print(f"error: {line}", file=sys.stderr)
    return SETTINGS_ERROR


if __name__ == "__main__":
    sys.exit(main())
