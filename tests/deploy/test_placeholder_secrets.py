"""No deploy we ship puts a placeholder or published secret in front of the real one (issue 21, Low 5)."""

from __future__ import annotations

import json
import re

import yaml

from pipeline import config
from pipeline.config import BASE_DIR

K8S_DIR = BASE_DIR / "deploy" / "k8s"


def test_kubectl_apply_k_applies_no_secret_and_no_placeholder():
    kustomization = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())
    applied = [(name, (K8S_DIR / name).read_text()) for name in kustomization["resources"]]
    assert "secret.example.yaml" not in kustomization["resources"]
    for name, text in applied:
        kinds = [doc["kind"] for doc in yaml.safe_load_all(text) if doc]
        assert "Secret" not in kinds, f"{name}: a Secret applied by -k would overwrite the real one"
        assert "CHANGE-ME" not in text, name


def test_the_example_secret_is_kept_and_its_key_is_refused_by_the_settings():
    example = yaml.safe_load((K8S_DIR / "secret.example.yaml").read_text())
    assert example["kind"] == "Secret" and example["metadata"]["name"] == "invoicemail-secrets"
    assert config.secret_key_weakness(example["stringData"]["SECRET_KEY"]) is not None


def test_compose_requires_a_secret_key_and_offers_none():
    compose = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())
    for name, service in compose["services"].items():
        value = (service.get("environment") or {}).get("SECRET_KEY")
        if value is not None:
            assert re.fullmatch(r"\$\{SECRET_KEY:\?[^}]+\}", value), f"{name}: {value!r} has a fallback"
    assert "SECRET_KEY" in compose["x-app"]["environment"]


def test_heroku_generates_the_key():
    assert json.loads((BASE_DIR / "app.json").read_text())["env"]["SECRET_KEY"]["generator"] == "secret"
