"""Business rules as plain functions. Views, jobs and CLI commands call these."""
