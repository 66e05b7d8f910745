"""The live locker grid (SPEC L4): every locker of a branch as a tile, changing as staff work.

The page is rendered on the server and then kept current by app/static/js/grid.js,
which polls the change feed (`changes`) and asks for a locker's side panel
(`locker`). Every answer is limited to the user's branch; the menu of a tile
offers only what the user's role allows, and the target screens check again.
"""

from flask import abort
from flask import current_app
from flask import jsonify
from flask import request
from flask import url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from admin_views.base import ID_PATH
from admin_views.base import SecuredView
from admin_views.base import user_branch_id
from app.models import LockerSize
from app.models import LockerStatus
from app.services import grid
from app.services import uploads
from app.services.access import can

# Where each menu action leads: (endpoint, its arguments). "__ID__" becomes the
# locker's id and "__RENTAL__" its holding rental's id, in the page's script.
ACTION_TARGETS = {
    grid.ASSIGN: ("rental_desk.assign_view", {"locker_id": "__ID__"}),
    grid.RESERVE: ("rental_desk.reserve_view", {"locker_id": "__ID__"}),
    grid.RENEW: ("rental_desk.renew_view", {"rental_id": "__RENTAL__"}),
    grid.RELEASE: ("rental_desk.release_view", {"rental_id": "__RENTAL__"}),
    grid.KEY: ("key_desk.index", {"locker_id": "__ID__"}),
    grid.MAINTENANCE: ("lockers.status_view", {"ids": "__ID__", "status": "MAINTENANCE"}),
    grid.CLEANING_DONE: ("lockers.status_view", {"ids": "__ID__", "status": "AVAILABLE"}),
}
ACTION_LABELS = {
    grid.ASSIGN: _l("Assign"),
    grid.RESERVE: _l("Reserve"),
    grid.RENEW: _l("Renew"),
    grid.RELEASE: _l("Release"),
    grid.KEY: _l("Issue/return key"),
    grid.MAINTENANCE: _l("Maintenance"),
    grid.CLEANING_DONE: _l("Cleaning done"),
}
MARK_LABELS = {
    grid.SOON: _l("Expiring soon"),
    grid.OVERDUE: _l("Overdue"),
    grid.DUES: _l("Dues unpaid"),
    grid.REKEY: _l("Needs re-key"),
}
# A symbol beside the colour, so no one has to tell colours apart.
STATUS_ICONS = {
    LockerStatus.AVAILABLE: "✓",
    LockerStatus.RESERVED: "◔",
    LockerStatus.ASSIGNED: "●",
    LockerStatus.EXPIRED: "⌛",
    LockerStatus.MAINTENANCE: "⚒",
    LockerStatus.OUT_OF_SERVICE: "⛔",
    LockerStatus.CLEANING: "✧",
}
MARK_ICONS = {grid.SOON: "⏳", grid.OVERDUE: "!", grid.DUES: "৳", grid.REKEY: "⚿"}
POLL_MS = 500
FALLBACK_POLL_MS = 5000


def _action_urls():
    """URL templates of the actions whose screens exist in this app."""
    urls = {}
    for action, (endpoint, args) in ACTION_TARGETS.items():
        if endpoint in current_app.view_functions:
            urls[action] = url_for(endpoint, **args)
    return urls


def _action_url(urls, action, tile):
    return (urls[action].replace("__ID__", str(tile["id"]))
            .replace("__RENTAL__", str(tile.get("r", ""))))


def _bad_request(errors):
    response = jsonify(error=" ".join(errors.values()), fields=errors)
    response.status_code = 400
    return response


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


class LockerGridView(SecuredView):
    """The grid page, its tile and change feeds, and the side panel of one locker."""

    permission_module = "lockers"

    def _labels(self):
        """Translated names the page and its script show, computed once per request."""
        return {
            "statuses": {status.name: {"label": str(status.label), "icon": STATUS_ICONS[status]}
                         for status in LockerStatus},
            "marks": {mark: {"label": str(label), "icon": MARK_ICONS[mark]}
                      for mark, label in MARK_LABELS.items()},
            "actions": {action: str(label) for action, label in ACTION_LABELS.items()},
        }

    @expose("/")
    def index(self):
        """The grid of one branch, filtered by floor, zone, size and status."""
        choice = grid.choose_filters(request.args, limited_branch_id=user_branch_id())
        filters = choice.filters
        # The version is read before the tiles: a change made in between is sent again.
        version = grid.current_version(filters.branch_id) if filters.branch_id else None
        abilities = grid.abilities_of(current_user)
        groups, tiles = grid.tiles(filters, abilities=abilities)
        labels = self._labels()
        counts = {status.name: 0 for status in LockerStatus}
        for tile in tiles:
            counts[tile["s"]] += 1
        config = {
            "filters": filters.as_args(),
            "tilesUrl": url_for(".tiles"),
            "changesUrl": url_for(".changes"),
            "panelUrl": url_for(".locker", locker_id=0).rsplit("/", 1)[0] + "/__ID__",
            "actionUrls": _action_urls(),
            "pollMs": POLL_MS,
            "fallbackPollMs": FALLBACK_POLL_MS,
            # Polling is not someone using the desk: it stops when nobody has touched
            # the screen for half the idle timeout, so the idle logout still happens.
            "pauseAfterMs": current_app.config["IDLE_TIMEOUT_MINUTES"] * 60 * 1000 // 2,
            "labels": labels,
            "texts": {
                "live": _("Live"),
                "fallback": _("Live updates unavailable: refreshing every 5 seconds."),
                "paused": _("Live updates paused while nobody uses this screen. Tap or press a key "
                            "to resume."),
                "offline": _("Cannot reach the desk server. Retrying…"),
                "noActions": _("Nothing you may do with this locker."),
                "menuFor": _("Actions for locker %(number)s", number="__NUMBER__"),
                "loading": _("Loading…"),
                "empty": _("No lockers match these filters."),
                "details": _("Show details"),
                "panelMissing": _("This locker is no longer shown here."),
            },
        }
        return self.render(
            "admin/grid/index.html", choice=choice, filters=filters,
            grid_data={"version": version, "groups": groups, "tiles": tiles},
            counts=counts, labels=labels, grid_config=config, sizes=list(LockerSize),
            statuses=list(LockerStatus), limited=user_branch_id() is not None)

    @expose("/tiles")
    def tiles(self):
        """Every tile matching the filters, as JSON (the page's full refresh)."""
        filters, errors = grid.quick_filters(request.args, limited_branch_id=user_branch_id())
        if errors:
            return _bad_request(errors)
        version = grid.current_version(filters.branch_id) if filters.branch_id else None
        groups, tiles = grid.tiles(filters, abilities=grid.abilities_of(current_user))
        return _no_store(jsonify(version=version, groups=groups, tiles=tiles))

    @expose("/changes")
    def changes(self):
        """Tiles changed since version `since` that match the filters, and ids that no longer do."""
        filters, errors = grid.quick_filters(request.args, limited_branch_id=user_branch_id())
        since = (request.args.get("since") or "").strip()
        if not (since.isascii() and since.isdigit()):
            errors["since"] = _("The version to start from must be a whole number.")
        if errors:
            return _bad_request(errors)
        if filters.branch_id is None:
            return _no_store(jsonify(version=0, tiles=[], removed=[]))
        try:
            feed = grid.changes_since(filters.branch_id, int(since))
        except grid.FeedUnavailable:
            return _no_store(jsonify(reload=False, fallback=True))
        if feed.reload:
            return _no_store(jsonify(version=feed.version, reload=True))
        changed = []
        if feed.locker_ids:
            _groups, changed = grid.tiles(filters, abilities=grid.abilities_of(current_user),
                                          locker_ids=feed.locker_ids)
        matching = {tile["id"] for tile in changed}
        removed = [locker_id for locker_id in feed.locker_ids if locker_id not in matching]
        return _no_store(jsonify(version=feed.version, tiles=changed, removed=removed))

    @expose(f"/locker/<{ID_PATH}:locker_id>")
    def locker(self, locker_id):
        """The side panel of one locker, as an HTML fragment."""
        found = grid.panel(locker_id, branch_id=user_branch_id(),
                           abilities=grid.abilities_of(current_user))
        if found is None:
            abort(404)
        client = found.client
        photo_url = None
        if client is not None and client.photo_path:
            permission = uploads.permission_for(client.photo_path)
            if permission and current_user.has_permission(permission):
                photo_url = url_for("web.upload", relative=client.photo_path) + "?thumb=1"
        urls = _action_urls()
        actions = [(action, ACTION_LABELS[action], _action_url(urls, action, found.tile))
                   for action in found.tile.get("a", []) if action in urls]
        return _no_store(current_app.make_response(self.render(
            "admin/grid/panel.html", panel=found, client=client, photo_url=photo_url,
            actions=actions, labels=self._labels(),
            can_see_client=can(current_user, "clients", "view"))))


def register(admin):
    """Add the grid as an early top-level menu item, and start announcing changes."""
    grid.install_listeners()
    admin.add_view(LockerGridView(name=_l("Locker grid"), endpoint="locker_grid", category=None))
    # Right after Home: the grid is where the desk spends its day.
    menu = admin.menu()
    menu.insert(1, menu.pop())
