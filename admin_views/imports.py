"""Screens of this area; see register()."""


def register(admin):
    """Add this area's views to `admin`."""
