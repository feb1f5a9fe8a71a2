import pytest

from pipeline import config


def test_env_bool_refuses_values_it_would_have_to_guess(monkeypatch):
    monkeypatch.setenv("SOME_FLAG", "maybe")
    with pytest.raises(config.ConfigError, match="SOME_FLAG"):
        config.env_bool("SOME_FLAG", False)


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("YES", True), ("0", False), ("off", False)])
def test_env_bool_reads_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("SOME_FLAG", raw)
    assert config.env_bool("SOME_FLAG", not expected) is expected


def test_env_int_enforces_its_minimum(monkeypatch):
    monkeypatch.setenv("SOME_COUNT", "0")
    with pytest.raises(config.ConfigError, match="minimum"):
        config.env_int("SOME_COUNT", 2, minimum=1)
