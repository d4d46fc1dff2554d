"""Health, readiness, request ids, structured logs and metrics (docs/operations.md, "Monitoring")."""
