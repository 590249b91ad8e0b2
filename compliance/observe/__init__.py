"""What was decided and shown, for the record: audit events and metrics."""
