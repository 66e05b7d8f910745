"""Figures read over a long history are kept and counted again after the desk changes
(app.services.figure_cache): the dashboard shows them at once, never older than the last action
by more than a worker's count, and without Redis it counts them itself."""

import pytest
from rq import SimpleWorker

from app.extensions import AppContextJob
from app.extensions import db
from app.extensions import rq
from app.services import clients
from app.services import figure_cache

counted = []


@figure_cache.figure("test_clients_named")
def _clients_named(branch_id, prefix=""):
    from app.models import Client

    counted.append(branch_id)
    return db.session.execute(db.select(db.func.count()).select_from(Client).where(
        Client.branch_id == branch_id, Client.full_name.startswith(prefix))).scalar_one()


@pytest.fixture(autouse=True)
def _fresh_count():
    counted.clear()


def _run_jobs():
    db.session.commit()
    SimpleWorker([rq.queue("default")], connection=rq.connection,
                 job_class=AppContextJob).work(burst=True, with_scheduler=False)


def test_a_kept_figure_is_read_without_counting_until_the_branch_changes(desk):
    branch, other = desk.make_branch(), desk.make_branch()
    desk.make_client(branch=branch, name="Rahim One")
    assert figure_cache.read("test_clients_named", branch.id, prefix="Rahim")[0] == 1
    value, as_of = figure_cache.read("test_clients_named", branch.id, prefix="Rahim")
    assert value == 1 and as_of is not None and counted == [branch.id]
    assert rq.queue("default").count == 0

    # A desk action in another branch leaves this branch's figure as it is.
    clients.register_client(branch_id=other.id, full_name="Rahim Elsewhere",
                            phone="+8801712000011", by_user_id=None)
    assert figure_cache.read("test_clients_named", branch.id, prefix="Rahim")[0] == 1
    assert rq.queue("default").count == 0

    # One in this branch: the kept figure is shown once more while a worker counts it again.
    clients.register_client(branch_id=branch.id, full_name="Rahim Two", phone="+8801712000012",
                            by_user_id=None)
    assert figure_cache.read("test_clients_named", branch.id, prefix="Rahim")[0] == 1
    assert figure_cache.read("test_clients_named", branch.id, prefix="Rahim")[0] == 1
    assert rq.queue("default").count == 1  # asked for once
    _run_jobs()
    assert figure_cache.read("test_clients_named", branch.id, prefix="Rahim")[0] == 2
    assert counted == [branch.id, branch.id]


def test_without_redis_every_view_counts(desk):
    branch = desk.make_branch()
    desk.make_client(branch=branch, name="Rahim One")
    desk.app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    desk.app.extensions["rq"]["redis"] = None
    assert figure_cache.read("test_clients_named", branch.id, prefix="Rahim") == (1, None)
    assert figure_cache.read("test_clients_named", branch.id, prefix="Rahim") == (1, None)
    assert counted == [branch.id, branch.id]
    # A desk action still commits: the events wait for the sweeper.
    clients.register_client(branch_id=branch.id, full_name="Rahim Two", phone="+8801712000013",
                            by_user_id=None)
    assert figure_cache.read("test_clients_named", branch.id, prefix="Rahim") == (2, None)


def test_a_kept_figure_an_older_release_wrote_is_counted_again(desk):
    branch = desk.make_branch()
    desk.make_client(branch=branch, name="Rahim One")
    key = figure_cache._value_key("test_clients_named", branch.id, {"prefix": "Rahim"})
    rq.connection.set(key, b"\x80\x04not a pickle of this release")
    assert figure_cache.read("test_clients_named", branch.id, prefix="Rahim")[0] == 1
    assert counted == [branch.id]
