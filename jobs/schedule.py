"""Every recurring job, declared once. Run by one process: `rq cron jobs/schedule.py`.

rq cron only enqueues; the jobs run on the workers (`flask worker`), inside the
app context.
"""

from rq import cron

from jobs.maintenance import cron_heartbeat

cron.register(cron_heartbeat, "maintenance", interval=60, name="cron-heartbeat")
