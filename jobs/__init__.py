"""Background jobs run by RQ workers (`flask worker`). Importing has no side effects."""
