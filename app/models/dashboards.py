"""Each user's own dashboard: which widgets, in what order, at what size (SPEC D3)."""

from app.extensions import db
from app.models.base import JSONText
from app.models.base import utcnow


class DashboardLayout(db.Model):
    """A user's arrangement of their dashboard; none means the role's default.

    `widgets` is [{"key": "revenue_chart", "size": "l"}, …] in the order shown;
    the keys are those of admin_views.dashboard.WIDGETS.
    """

    user_id = db.Column(db.ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    widgets = db.Column(JSONText, nullable=False)
    updated_at = db.Column(db.DateTime, nullable=False, default=utcnow, onupdate=utcnow)
