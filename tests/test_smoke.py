"""Does the desk start, and does a Front Desk login reach the admin?"""


def test_front_desk_reaches_the_admin_home(desk):
    """A Front Desk member logs in and sees the home page."""
    browser = desk.login_as("Front Desk")
    assert browser.get("/admin/").status_code == 200
