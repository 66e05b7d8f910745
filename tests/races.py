"""Several desks doing something at the same moment: one forked process per desk.

Every race test of the suite goes through `race()`. Each desk is a fork of the
test's own app (no second app to build), opens its own database connections,
waits at a barrier until every desk is connected, does its one action, and
reports what happened. The waits are long and explicit, and a desk that dies or
never answers is named in the failure, so a loaded 2-core machine makes the test
slow, never wrong.
"""

import multiprocessing
import os
import queue
import time
import traceback

from app.extensions import db

# A desk waits this long for the others to be ready, and the test this long for all
# answers: far beyond what a loaded machine needs, short of CI's own limit.
START_TIMEOUT = 240
ANSWER_TIMEOUT = 300


def race(app, action, argument_lists):
    """Run `action(*arguments)` in one process per entry of `argument_lists`, all at once.

    `action` returns a short outcome ("won", "refused", …) or raises; a raised
    exception becomes "crashed: <type>: <message>" so the test shows it. Returns
    the outcomes in the order of `argument_lists`.
    """
    db.session.commit()
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(len(argument_lists))
    answers = context.Queue()
    desks = [context.Process(target=_desk, args=(app, action, n, arguments, barrier, answers),
                             name=f"desk-{n}")
             for n, arguments in enumerate(argument_lists)]
    for desk in desks:
        desk.start()
    outcomes = {}
    deadline = time.monotonic() + ANSWER_TIMEOUT
    while len(outcomes) < len(desks) and time.monotonic() < deadline:
        try:
            n, outcome = answers.get(timeout=1)
        except queue.Empty:
            if all(not desk.is_alive() for desk in desks) and answers.empty():
                break
            continue
        outcomes[n] = outcome
    for desk in desks:
        desk.join(timeout=30)
        if desk.is_alive():
            desk.kill()
    missing = [f"{desks[n].name} (exit code {desks[n].exitcode})"
               for n in range(len(desks)) if n not in outcomes]
    assert not missing, f"these desks never answered: {missing}; the others said {outcomes}"
    # The test's own transaction began before the race; on MariaDB (REPEATABLE READ)
    # its snapshot would hide the result, so end it.
    db.session.rollback()
    return [outcomes[n] for n in range(len(desks))]


def _desk(app, action, n, arguments, barrier, answers):
    """One desk process. It ends with os._exit: a normal exit would run the parent's
    atexit handlers and garbage-collect connections inherited from it."""
    try:
        with app.app_context():
            # Connections of the parent's pool must not be used by two processes.
            db.engine.dispose(close=False)
            db.session.execute(db.select(1)).all()  # connect before the start
            db.session.rollback()
            barrier.wait(timeout=START_TIMEOUT)
            try:
                outcome = action(*arguments)
            except Exception as exc:  # anything unexpected is a bug the test must show
                db.session.rollback()
                outcome = f"crashed: {exc.__class__.__name__}: {exc}\n{traceback.format_exc()}"
            finally:
                db.session.remove()
                db.engine.dispose()
        answers.put((n, outcome))
    except BaseException as exc:  # the parent must hear from every desk
        answers.put((n, f"crashed before its action: {exc.__class__.__name__}: {exc}"))
    finally:
        answers.close()
        answers.join_thread()
        os._exit(0)
