"""Settings for the test run: the product's own settings over a throw-away state folder."""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-used-anywhere-else-0123456789")
os.environ.setdefault("HTTPS", "false")  # the test client speaks plain HTTP
os.environ["STATE_DIR"] = tempfile.mkdtemp(prefix="invoicemail-test-")  # never the state of `make run`

from webapp.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

STATIC_ROOT.mkdir(exist_ok=True)  # noqa: F405 (whitenoise warns about a missing folder on every request)
