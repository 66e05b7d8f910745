"""The test harness itself: what keeps the suite's two processes off each other's databases."""

from tests.databases import server_of


def test_each_test_is_given_to_the_process_of_its_database_server():
    """Every test on PostgreSQL runs in one process, every test on MariaDB in one (maybe the
    same); a test of SQLite or of no database may go to either."""
    assert server_of("tests/test_a.py::test_b[postgresql]") == "postgresql"
    assert server_of("tests/test_a.py::test_b[mariadb-wrong]") == "mariadb"
    upload = "tests/test_uploads.py::test_not_photos[postgresql-<?php system($_GET['c']); ?>]"
    assert server_of(upload) == "postgresql"
    assert server_of("tests/test_a.py::test_b[sqlite-postgresql.dump]") is None
    assert server_of("tests/test_a.py::test_b[sqlite]") is None
    assert server_of("tests/test_a.py::test_b") is None
