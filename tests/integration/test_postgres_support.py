import psycopg
import pytest

from tests.support import needs
from tests.support.postgres import temporary_postgres

pytestmark = [pytest.mark.postgres]


def test_temporary_postgres_serves_queries_and_cleans_up():
    needs.pg_bin()
    with temporary_postgres() as server:
        assert server.url.startswith("postgresql://postgres@127.0.0.1:")
        with psycopg.connect(server.url) as connection:
            assert connection.execute("SELECT 1 + 1").fetchone() == (2,)
            assert connection.execute("SHOW fsync").fetchone() == ("off",)
            assert connection.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)

        url = server.create_database("invoices_test")
        assert url.endswith("/invoices_test")
        with psycopg.connect(url) as connection:
            connection.execute("CREATE TABLE blob (sha256 text PRIMARY KEY, size bigint NOT NULL)")
            connection.execute("INSERT INTO blob VALUES ('ab', 3), ('cd', 4)")
            assert connection.execute("SELECT sum(size) FROM blob").fetchone() == (7,)
            assert connection.execute("SELECT current_database()").fetchone() == ("invoices_test",)
        base_dir = server.base_dir
    assert not base_dir.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(server.url, connect_timeout=2)
