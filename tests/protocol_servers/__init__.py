"""Local HTTP servers that speak the providers' real protocols, for tests."""
