"""Bulk import of clients and lockers (SPEC C4): upload → mapping → dry run → commit.

The steps are thin callers of app.services.imports. Which kinds a user may
import is checked on the server at every step: clients need clients-create
and clients-edit (an import updates known clients), lockers need
lockers-create. The pending import (file token, kind, branch, mapping) lives
in the user's session; the file itself under instance/imports.
"""

import re

from flask import abort
from flask import current_app
from flask import flash
from flask import redirect
from flask import request
from flask import session
from flask import url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.file import FileField
from flask_wtf.file import FileRequired
from wtforms import RadioField
from wtforms import SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired

from admin_views.base import DeskForm
from admin_views.base import SecuredView
from admin_views.base import scope_to_branch
from admin_views.base import user_branch_id
from admin_views.menu import SYSTEM
from app.extensions import db
from app.models import Branch
from app.services import imports
from app.services.access import CREATE
from app.services.access import EDIT
from app.services.access import can

SESSION_KEY = "desk_import"
# A wrong file can have a problem on every row; the page shows this many.
MAX_SHOWN_PROBLEMS = 1000
KIND_LABELS = {imports.CLIENTS: _l("Clients"), imports.LOCKERS: _l("Lockers")}
# Where the desk lands after a successful import.
LIST_ENDPOINTS = {imports.CLIENTS: "clients.index_view", imports.LOCKERS: "lockers.index_view"}


def may_import(kind):
    """True if the current user may import `kind` (checked at every step)."""
    if kind == imports.CLIENTS:
        return can(current_user, "clients", CREATE) and can(current_user, "clients", EDIT)
    if kind == imports.LOCKERS:
        return can(current_user, "lockers", CREATE)
    return False


def importable_kinds():
    """The kinds the current user may import, in screen order."""
    return [kind for kind in imports.KINDS if may_import(kind)]


class UploadForm(DeskForm):
    """Step 1: what to import, into which branch, from which file."""

    kind = RadioField(_l("What to import"), validators=[InputRequired()])
    branch = SelectField(_l("Branch"), coerce=int, validators=[InputRequired()])
    file = FileField(_l("File (CSV or Excel .xlsx)"),
                     validators=[FileRequired(_l("Choose a file to upload."))])


def _mapping_form(kind, table, data=None):
    """Step 2's form: one select per target field over the file's columns."""

    class MappingForm(DeskForm):
        pass

    choices = [SelectChoice("", "—")] + [
        SelectChoice(str(index), table.column_name(index)) for index in range(len(table.headers))]
    for target in imports.targets(kind):
        setattr(MappingForm, target.name, SelectField(target.label, choices=choices, default=""))
    return MappingForm(data=data)


class ImportView(SecuredView):
    """Bulk import of clients or lockers from a CSV or Excel file, with a dry run first."""

    # The page opens for anyone who may import at least one kind; each step
    # then checks the permissions of the kind being imported.
    permission_module = "clients"
    permission_action = CREATE

    def is_accessible(self):
        return current_user.is_authenticated and bool(importable_kinds())

    # --- the pending import in the session -----------------------------------------------

    def _pending(self, strict=True):
        """The pending import, or None; 403 (None if not `strict`) if its kind is not allowed."""
        pending = session.get(SESSION_KEY)
        if not isinstance(pending, dict) or pending.get("kind") not in imports.KINDS:
            return None
        if not may_import(pending["kind"]):
            if strict:
                abort(403)
            return None
        return pending

    def _forget(self):
        pending = session.pop(SESSION_KEY, None)
        if isinstance(pending, dict):
            imports.discard(pending.get("token"))

    def _start_again(self, message):
        self._forget()
        flash(str(message), "error")
        return redirect(url_for(".index"))

    def _branch_choices(self):
        query = scope_to_branch(db.session.query(Branch), Branch)
        return [SelectChoice(str(branch.id), branch.name)
                for branch in query.filter(Branch.is_active).order_by(Branch.name)]

    # --- step 1: upload ---------------------------------------------------------------------

    @expose("/", methods=("GET", "POST"))
    def index(self):
        """Choose what to import and upload the file."""
        chosen = request.form.get("kind")
        if request.method == "POST" and chosen in imports.KINDS and not may_import(chosen):
            abort(403)
        form = UploadForm()
        kinds = importable_kinds()
        form.kind.choices = [SelectChoice(kind, str(KIND_LABELS[kind])) for kind in kinds]
        if request.method == "GET" and len(kinds) == 1:
            form.kind.data = kinds[0]
        limited_to = user_branch_id()
        if limited_to is not None:
            del form.branch
        else:
            form.branch.choices = self._branch_choices()
        if form.validate_on_submit():
            try:
                token = imports.save_upload(form.file.data)
            except imports.ImportRejected as exc:
                form.file.errors = [*form.file.errors, str(exc.message)]
            else:
                self._forget()
                session[SESSION_KEY] = {
                    "token": token,
                    "kind": form.kind.data,
                    "branch_id": limited_to if limited_to is not None else form.branch.data,
                    # Some browsers send a whole path ("C:\\fakepath\\clients.csv").
                    "filename": re.split(r"[\\/]", form.file.data.filename or "")[-1][:100],
                    "mapping": None,
                }
                return redirect(url_for(".mapping"))
        return self.render("admin/import/upload.html", form=form,
                           pending=self._pending(strict=False),
                           kind_labels=KIND_LABELS,
                           max_mb=current_app.config["UPLOAD_MAX_BYTES"] // (1024 * 1024),
                           max_rows=imports.MAX_ROWS)

    # --- step 2: mapping --------------------------------------------------------------------

    @expose("/mapping/", methods=("GET", "POST"))
    def mapping(self):
        """Say which column of the file holds which field."""
        pending = self._pending()
        if pending is None:
            flash(_("Upload a file to import first."), "error")
            return redirect(url_for(".index"))
        kind = pending["kind"]
        try:
            table = imports.load_table(pending["token"])
        except imports.ImportRejected as exc:
            return self._start_again(exc.message)
        saved = pending.get("mapping") or imports.guess_mapping(kind, table.headers)
        # Pre-selected on the page only: a posted form says everything itself.
        preset = None if request.method == "POST" else {
            name: str(index) for name, index in saved.items()}
        form = _mapping_form(kind, table, data=preset)
        if form.validate_on_submit():
            chosen = {target.name: int(getattr(form, target.name).data)
                      for target in imports.targets(kind) if getattr(form, target.name).data}
            problems = imports.mapping_problems(kind, chosen, len(table.headers))
            for name, message in problems.items():
                getattr(form, name).errors = [*getattr(form, name).errors, str(message)]
            if not problems:
                session[SESSION_KEY] = {**pending, "mapping": chosen}
                return redirect(url_for(".check"))
        return self.render("admin/import/mapping.html", form=form, pending=pending, table=table,
                           targets=imports.targets(kind), kind_label=KIND_LABELS[kind],
                           preview=table.rows[:3])

    # --- step 3: dry run ----------------------------------------------------------------------

    def _ready(self):
        """The pending import with a mapping, or a redirect to the step it still needs."""
        pending = self._pending()
        if pending is None:
            flash(_("Upload a file to import first."), "error")
            return None, redirect(url_for(".index"))
        if not pending.get("mapping"):
            return None, redirect(url_for(".mapping"))
        return pending, None

    def _report(self, pending, plan, committed_failed=False):
        return self.render("admin/import/check.html", pending=pending, plan=plan,
                           kind_label=KIND_LABELS[pending["kind"]],
                           problems=plan.problems[:MAX_SHOWN_PROBLEMS],
                           committed_failed=committed_failed)

    @expose("/check/")
    def check(self):
        """The dry run: every bad row with its reason, and what would be created or updated."""
        pending, elsewhere = self._ready()
        if elsewhere is not None:
            return elsewhere
        try:
            plan = imports.dry_run(pending["kind"], pending["token"], pending["mapping"],
                                   branch_id=pending["branch_id"], by_user_id=current_user.id)
        except imports.ImportRejected as exc:
            return self._start_again(exc.message)
        return self._report(pending, plan)

    # --- step 4: commit -----------------------------------------------------------------------

    @expose("/commit/", methods=("POST",))
    def commit(self):
        """Import every row, or none when any row has a problem."""
        pending, elsewhere = self._ready()
        if elsewhere is not None:
            return elsewhere
        try:
            plan = imports.commit_import(
                pending["kind"], pending["token"], pending["mapping"],
                branch_id=pending["branch_id"], by_user_id=current_user.id,
                filename=pending.get("filename"))
        except imports.ImportFailed as exc:
            flash(str(exc.message), "error")
            return self._report(pending, exc.plan, committed_failed=True)
        except imports.ImportRejected as exc:
            flash(str(exc.message), "error")
            return redirect(url_for(".check"))
        session.pop(SESSION_KEY, None)
        flash(_("Imported %(file)s: %(created)d created, %(updated)d updated.",
                file=pending.get("filename") or "", created=plan.created,
                updated=plan.updated), "success")
        return redirect(url_for(LIST_ENDPOINTS[pending["kind"]]))

    @expose("/cancel/", methods=("POST",))
    def cancel(self):
        """Drop the pending import and delete its file."""
        self._forget()
        flash(_("The import was cancelled and the uploaded file deleted."), "info")
        return redirect(url_for(".index"))


def register(admin):
    """Add the Import page to the System menu."""
    admin.add_view(ImportView(name=_l("Import"), category=SYSTEM, endpoint="import"))
