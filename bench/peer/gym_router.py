"""The peer's database router (copied into the generated project as gym/router.py; see bench/peer).

Locker desk's tables (the `gym` app, models from inspectdb) are read from the `gym`
database and nothing is ever migrated there; Django's own tables stay in `default`.
"""

GYM_APP = "gym"
GYM_DATABASE = "gym"


class GymRouter:
    def db_for_read(self, model, **hints):
        return GYM_DATABASE if model._meta.app_label == GYM_APP else None

    def db_for_write(self, model, **hints):
        # Nothing writes there (the admin is view-only and the connection read-only), but a
        # stray write must fail on the gym database rather than create tables in default.
        return GYM_DATABASE if model._meta.app_label == GYM_APP else None

    def allow_relation(self, obj1, obj2, **hints):
        if GYM_APP in (obj1._meta.app_label, obj2._meta.app_label):
            return obj1._meta.app_label == obj2._meta.app_label
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        if db == GYM_DATABASE or app_label == GYM_APP:
            return False
        return None
