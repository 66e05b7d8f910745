"""Small factories so tests read like the desk's day: make_locker(), login_as(role)."""

import itertools

from flask_security import hash_password

from app.extensions import db
from app.extensions import security
from app.models import Branch
from app.models import Client
from app.models import Floor
from app.models import Gender
from app.models import Locker
from app.models import LockerSize
from app.models import Zone
from app.models import ZoneKind
from app.services.access import ACCOUNTANT
from app.services.access import FRONT_DESK
from app.services.access import MANAGER
from app.services.access import SUPER_ADMIN

PASSWORD = "Corr3ct-Horse-Battery"
ROLES = (SUPER_ADMIN, MANAGER, FRONT_DESK, ACCOUNTANT)
_counter = itertools.count(1)


class Desk:
    """Builds records and signed-in browsers for one test app."""

    def __init__(self, app):
        self.app = app

    def make_branch(self, name=None, **fields):
        """A branch with a unique name and code."""
        n = next(_counter)
        branch = Branch(name=name or f"Branch {n}", code=fields.pop("code", f"B{n}"), **fields)
        db.session.add(branch)
        db.session.commit()
        return branch

    def make_zone(self, branch=None, kind=ZoneKind.MEN, name=None):
        """A zone on a new floor of `branch`."""
        branch = branch or self.make_branch()
        n = next(_counter)
        floor = Floor(branch=branch, name=f"Floor {n}", level=n)
        zone = Zone(floor=floor, name=name or f"{kind.name.title()} {n}", kind=kind)
        db.session.add_all([floor, zone])
        db.session.commit()
        return zone

    def make_locker(self, zone=None, number=None, size=LockerSize.MEDIUM, **fields):
        """An Available locker."""
        zone = zone or self.make_zone()
        locker = Locker(zone=zone, number=number or f"T-{next(_counter):03d}", size=size, **fields)
        db.session.add(locker)
        db.session.commit()
        return locker

    def make_client(self, branch=None, phone=None, name="Karim Uddin", **fields):
        """An Active client with a valid Bangladesh mobile number."""
        branch = branch or self.make_branch()
        n = next(_counter)
        client = Client(branch=branch, full_name=name, phone=phone or f"+88017{n:08d}",
                        gender=fields.pop("gender", Gender.MALE), **fields)
        db.session.add(client)
        db.session.commit()
        return client

    def insert_clients(self, branch, count, name="Client {n}", phone="+8801711{n:06d}"):
        """`count` clients written with one INSERT, around the session (as a bulk load does)."""
        db.session.execute(Client.__table__.insert(), [
            {"branch_id": branch.id, "full_name": name.format(n=n), "phone": phone.format(n=n)}
            for n in range(count)])
        db.session.commit()

    def make_user(self, role, email=None, branch=None, locale="en", password=PASSWORD, **fields):
        """A staff member with `role`."""
        user = security.datastore.create_user(
            email=email or f"{role.lower().replace(' ', '-')}-{next(_counter)}@gym.local",
            password=hash_password(password), roles=[role], branch=branch, locale=locale,
            full_name=fields.pop("full_name", f"{role} person"), **fields,
        )
        db.session.commit()
        return user

    def login(self, email, password=PASSWORD, browser=None):
        """POST the login form; returns (browser, response)."""
        browser = browser or self.app.test_client()
        response = browser.post("/login", data={"email": email, "password": password},
                                headers={"Accept-Language": "en"})
        return browser, response

    def login_as(self, role, **fields):
        """A browser signed in as a new staff member with `role`; `.user` is that user."""
        user = self.make_user(role, **fields)
        browser, response = self.login(user.email)
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        browser.user = user
        return browser
