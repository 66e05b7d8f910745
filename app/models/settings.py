"""Business settings that staff change from the screens (SPEC S7)."""

from app.extensions import db
from app.models.base import JSONText
from app.models.base import TimestampMixin


class Setting(TimestampMixin, db.Model):
    """One setting; its meaning, type and default live in app.services.settings."""

    key = db.Column(db.String(60), primary_key=True)
    value = db.Column(JSONText)

    def __str__(self):
        return self.key
