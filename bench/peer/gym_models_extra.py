# ruff: noqa: F821
# Appended by bench/peer to the models inspectdb wrote (so the names above are its classes).
# Each model reads as Locker desk's model of the same table does (app/models, __str__), so a
# foreign-key column shows the same text on both sides; English names where ours follows
# the reader's language.
Branch.__str__ = lambda self: self.name
Floor.__str__ = lambda self: self.name
Zone.__str__ = lambda self: f"{self.floor.name} · {self.name}"
LockerCategory.__str__ = lambda self: self.name
Locker.__str__ = lambda self: self.number
Client.__str__ = lambda self: f"{self.full_name} ({self.phone})"
Rental.__str__ = lambda self: f"#{self.pk} {self.locker} · {self.client.full_name}"
Payment.__str__ = lambda self: f"#{self.pk}"
Invoice.__str__ = lambda self: self.number
User.__str__ = lambda self: self.full_name or self.email
