"""A list's exported cells, row after row, as SecuredModelView.get_export_value gives them, fast.

Flask-Admin works a cell out from scratch each time (its formatter, a walk
over the type formatters, a translation looked up through the request): about
50 µs a cell, and building an ORM object for each row costs as much again:
80 s for the 200,000 clients of a chain, where the target is 10 s. An export
asks the same questions of every row, so here they are answered once:

* ExportCells formats values: each value type's formatter found once, the
  label of each status (a handful of values) translated once, and the times
  shifted to the branch's timezone and written with the standard library
  (checked against app.i18n.local_datetime on the first one).
* export_rows() reads a list whose exported columns are the model's own
  columns and many-to-one links (a client's branch) as plain rows, from one
  streaming query, with the linked records named a batch at a time; a list
  with a column formatter of its own needs its rows as objects, and gets them
  from exports.stream_objects.

Every cell still passes through the one sanitizer, exports.safe_cell, and
tests/test_exports_large.py compares both ways with get_export_value.
"""

from datetime import UTC
from datetime import date
from datetime import datetime
from enum import Enum

import sqlalchemy as sa
from flask_admin.tools import rec_getattr
from flask_babel import get_timezone

from app.extensions import db
from app.i18n import local_date
from app.i18n import local_datetime
from app.i18n import reads_bengali
from app.services import exports
from app.services.digits import bengali_digits
from app.services.exports import safe_cell
from app.services.transactions import in_slices

# Names of linked records kept while an export runs; past this many the memo starts again.
LINKED_MEMO = 50_000


class ExportCells:
    """cells(obj) → the exported cells of one row object of `view`'s list."""

    def __init__(self, view, format_datetime, format_date):
        self.view = view
        self.names = [name for name, _label in view._export_columns]
        self.column_formatters = view.column_formatters_export or {}
        self.type_formatters = list((view.column_type_formatters_export or {}).items())
        self.choices = {name: view._column_choices_map.get(name, {}) for name in self.names}
        self.timed = {format_datetime: self._datetime, format_date: self._date}
        self.by_type, self.memo = {}, {}
        self.timezone, self.bengali = get_timezone(), reads_bengali()
        self.checked = False

    def __call__(self, obj):
        return [safe_cell(self.value(obj, name)) for name in self.names]

    def value(self, obj, name):
        formatter = self.column_formatters.get(name)
        value = formatter(self.view, None, obj, name) if formatter else rec_getattr(obj, name)
        return self.formatted(value, name)

    def formatted(self, value, name):
        """`value` of column `name` as get_export_value shows it (before safe_cell)."""
        choices = self.choices[name]
        if choices:
            return choices.get(value) or value
        type_formatter = self._formatter_for(type(value))
        if type_formatter is None:
            return value
        fast = self.timed.get(type_formatter)
        if fast is not None:
            return fast(value)
        if isinstance(value, (Enum, bool)):  # a few values, each formatted once
            key = (type_formatter, value)
            if key not in self.memo:
                self.memo[key] = type_formatter(self.view, value, name)
            return self.memo[key]
        return type_formatter(self.view, value, name)

    def _formatter_for(self, cls):
        if cls not in self.by_type:
            self.by_type[cls] = next((formatter for typeobj, formatter in self.type_formatters
                                      if issubclass(cls, typeobj)), None)
        return self.by_type[cls]

    def _digits(self, text):
        return bengali_digits(text) if self.bengali else text

    def _datetime(self, value):
        text = self._digits(value.replace(tzinfo=UTC).astimezone(self.timezone)
                            .strftime("%d/%m/%Y %H:%M"))
        if not self.checked:  # the first time shown both ways: they must agree
            self.checked = True
            if text != local_datetime(value):
                self.timed = {}
                return local_datetime(value)
        return text

    def _date(self, value):
        if isinstance(value, datetime):
            return self._datetime(value)
        if isinstance(value, date):
            return self._digits(value.strftime("%d/%m/%Y"))
        return local_date(value)


def _plain_plan(view, names):
    """[(name, column) or (name, relationship)] when every exported column is the model's own
    column or a many-to-one link named by its record; None when a row object is needed."""
    if view.column_formatters_export:
        needed = set(view.column_formatters_export) & set(names)
        if needed:
            return None
    mapper = sa.inspect(view.model)
    plan = []
    for name in names:
        if name in mapper.column_attrs and len(mapper.column_attrs[name].columns) == 1:
            plan.append((name, getattr(view.model, name), None))
        elif name in mapper.relationships:
            link = mapper.relationships[name]
            local = list(link.local_columns)
            if link.direction.name != "MANYTOONE" or len(local) != 1 or link.secondary is not None:
                return None
            plan.append((name, local[0], link.mapper.class_))
        else:
            return None
    return plan


def reads_plain_rows(view):
    """True when the list's export is read as plain rows (the fast way), not as objects."""
    return _plain_plan(view, [name for name, _label in view._export_columns]) is not None


def _names_of(model, ids):
    """{id: str(record)} of the linked records `ids`, in one query."""
    key = sa.inspect(model).primary_key[0]
    found = db.session.execute(sa.select(model).where(key.in_(ids))).scalars()
    return {getattr(record, key.key): str(record) for record in found}


def export_rows(view, query, id_column, format_datetime, format_date):
    """The exported cells of each row of `query` (a list's export query), in its order."""
    cells = ExportCells(view, format_datetime, format_date)
    plan = _plain_plan(view, cells.names)
    if plan is None:
        for obj in exports.stream_objects(query, id_column):
            yield cells(obj)
        return
    statement = query.with_entities(*[column for _name, column, _model in plan]).statement
    linked = [(index, model) for index, (_name, _column, model) in enumerate(plan) if model]
    memo = {}
    with db.engine.connect() as connection:
        result = connection.execution_options(stream_results=True,
                                              yield_per=exports.BATCH).execute(statement)
        for batch in result.partitions(exports.BATCH):
            for index, model in linked:
                known = memo.setdefault(model, {})
                if len(known) > LINKED_MEMO:
                    known.clear()
                wanted = {row[index] for row in batch} - known.keys() - {None}
                for chunk in in_slices(sorted(wanted)):
                    known.update(_names_of(model, chunk))
            for row in batch:
                yield [safe_cell(cells.formatted(
                    memo[plan[i][2]].get(value) if plan[i][2] and value is not None else value,
                    plan[i][0])) for i, value in enumerate(row)]


