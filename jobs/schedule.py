"""Every recurring job, declared once. Run by one process: `rq cron jobs/schedule.py`.

rq cron only enqueues; the jobs run on the workers (`flask worker`), inside the
app context.
"""

from rq import cron

from jobs.backups import backup_if_due
from jobs.events import dispatch_undelivered_events
from jobs.exports import send_scheduled_reports
from jobs.exports import tidy_exports
from jobs.maintenance import count_days
from jobs.maintenance import cron_heartbeat
from jobs.maintenance import refresh_planner_statistics
from jobs.notifications import send_due_notifications
from jobs.notifications import send_manager_digests
from jobs.notifications import sweep_reminders
from jobs.payments import verify_online_payments
from jobs.privacy import anonymise_due_clients
from jobs.rentals import abandon_overdue_rentals
from jobs.rentals import expire_due_rentals
from jobs.rentals import lapse_reservations
from jobs.waitlist import accept_waitlist_offers
from jobs.waitlist import lapse_waitlist_offers
from jobs.waitlist import offer_free_lockers

cron.register(cron_heartbeat, "maintenance", interval=60, name="cron-heartbeat")
# Hourly: a backup when settings "backup_schedule" says the last one is a day (week) old.
cron.register(backup_if_due, "maintenance", cron="40 * * * *", job_timeout=3600, name="backups")
cron.register(dispatch_undelivered_events, "default", interval=60, name="dispatch-events")
cron.register(lapse_reservations, "default", interval=300, name="lapse-reservations")
cron.register(expire_due_rentals, "default", interval=300, name="expire-rentals")
cron.register(abandon_overdue_rentals, "default", cron="15 * * * *", name="abandon-rentals")
cron.register(accept_waitlist_offers, "default", interval=120, name="waitlist-accept")
cron.register(lapse_waitlist_offers, "default", interval=180, name="waitlist-lapse")
cron.register(offer_free_lockers, "default", interval=180, name="waitlist-offer")
# Gateway attempts nobody came back from: asked again with back-off until they settle.
cron.register(verify_online_payments, "default", interval=60, name="verify-online-payments")
cron.register(send_due_notifications, "notifications", interval=60, name="send-notifications")
# Every hour: a reminder whose quiet hours ended goes out then; the keys stop repeats.
cron.register(sweep_reminders, "default", cron="5 * * * *", name="reminders")
# 08:00 in Dhaka (02:00 UTC): the managers' digest of the day.
cron.register(send_manager_digests, "notifications", cron="0 2 * * *", name="manager-digest")
# 03:30 in Dhaka (21:30 UTC): clients whose deletion request is due are anonymised, out of hours.
cron.register(anonymise_due_clients, "maintenance", cron="30 21 * * *", name="privacy-anonymise")
cron.register(tidy_exports, "maintenance", cron="20 * * * *", name="tidy-exports")
cron.register(send_scheduled_reports, "notifications", interval=300, job_timeout=1800,
              name="scheduled-reports")
# The days that are over, counted once for the year-long reports; soon after midnight, and
# again soon after a correction reached back into counted days.
cron.register(count_days, "maintenance", interval=600, job_timeout=600, name="count-days")
# 04:00 in Dhaka (22:00 UTC): fresh planner statistics of the tables that grow (searches and
# lists are answered from indexes only while the database knows how large the tables are).
cron.register(refresh_planner_statistics, "maintenance", cron="0 22 * * *", job_timeout=3600,
              name="planner-statistics")
