"""Domain events: what happened at the desk, kept with the change itself (the outbox)."""

from app.extensions import db
from app.models.base import JSONText
from app.models.base import utcnow


class DomainEvent(db.Model):
    """One thing that happened ("rental.renewed"), written in the transaction that did it.

    Subscribers (the grid's change feed now; notifications and the live feed
    next) hear of it after the commit. `dispatched_at` stays empty until they
    all have, so an event whose delivery failed (Redis down) is swept up later
    and none is lost. Rows are only ever inserted and then stamped.
    """

    __tablename__ = "domain_event"

    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(40), nullable=False)
    occurred_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    # Plain ids, no foreign keys: an event outlives nothing, but must never block a change.
    branch_id = db.Column(db.Integer)
    locker_id = db.Column(db.Integer, index=True)
    client_id = db.Column(db.Integer, index=True)
    rental_id = db.Column(db.Integer)
    by_user_id = db.Column(db.Integer)
    data = db.Column(JSONText)
    dispatched_at = db.Column(db.DateTime)

    __table_args__ = (
        # The sweeper's question, "what is not delivered yet", answered from an index.
        db.Index("ix_domain_event_undelivered", "dispatched_at", "id"),
        db.Index("ix_domain_event_branch_occurred", "branch_id", "occurred_at"),
    )
