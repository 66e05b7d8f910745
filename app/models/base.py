"""Column helpers shared by the models."""

import contextvars
import enum
import json
from datetime import UTC
from datetime import datetime

from sqlalchemy.types import Text
from sqlalchemy.types import TypeDecorator

from app.extensions import db

# The stand-in clock of app.services.clock.simulated(), when one is running in this context.
simulated_clock = contextvars.ContextVar("simulated_clock", default=None)


def utcnow():
    """Now in UTC, naive: every datetime column holds UTC without an offset.

    SQLite and MariaDB cannot store an offset, so the rule is the same on all
    three databases and conversion to the branch's timezone happens on display.
    Inside app.services.clock.simulated() it is the simulated moment instead.
    """
    stand_in = simulated_clock.get()
    if stand_in is not None and stand_in.at is not None:
        return stand_in.at
    return datetime.now(UTC).replace(tzinfo=None)


class LabelledEnum(enum.Enum):
    """An enum whose members carry a translated label for screens and exports."""

    @property
    def label(self):
        """The member's label in the current user's language."""
        return self._labels()[self]

    @classmethod
    def _labels(cls):
        raise NotImplementedError

    @classmethod
    def choices(cls):
        """(name, label) pairs for select fields and filters; names are what is stored."""
        return [(member.name, member.label) for member in cls]

    def __str__(self):
        return str(self.label)

    def __html__(self):
        return str(self.label)


def enum_column(enum_cls, default=None, constraint_name=None, **kwargs):
    """A status/kind column stored as the member's name in a VARCHAR on every database.

    Native ENUM types differ between PostgreSQL and MariaDB and need their own
    migrations to change; a VARCHAR with a CHECK constraint behaves the same on
    all three. Names (not values) are stored because Flask-Admin's enum forms
    and filters look members up by name.
    """
    return db.Column(
        db.Enum(
            enum_cls,
            native_enum=False,
            create_constraint=True,
            length=24,
            validate_strings=True,
            # Names the CHECK constraint; a second column of the same enum in one
            # table needs its own (PostgreSQL refuses two constraints of one name).
            name=constraint_name or enum_cls.__name__.lower(),
        ),
        default=default,
        nullable=kwargs.pop("nullable", False),
        **kwargs,
    )


def local_name(name, name_bn):
    """The name of master data in the reader's language: `name_bn` for Bengali readers, if given.

    Floors, zones, categories and tags are named by staff in English, and
    optionally in Bengali too; anyone else, and a record without a Bengali
    name, reads the English one.
    """
    from flask_babel import get_locale

    locale = get_locale()
    if name_bn and locale is not None and locale.language == "bn":
        return name_bn
    return name


class BilingualName:
    """Master data with an English `name` and an optional Bengali `name_bn`."""

    @property
    def local_name(self):
        """The name in the reader's language (see local_name())."""
        return local_name(self.name, self.name_bn)


class JSONText(TypeDecorator):
    """JSON kept in a TEXT column, so the three databases store it identically."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        """Serialise on the way in."""
        if value is None:
            return None
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)

    def process_result_value(self, value, dialect):
        """Parse on the way out."""
        if value is None:
            return None
        return json.loads(value)


class TimestampMixin:
    """created_at / updated_at in UTC."""

    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    updated_at = db.Column(db.DateTime, nullable=False, default=utcnow, onupdate=utcnow)
