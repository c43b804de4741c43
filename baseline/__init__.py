"""The baseline: canonical hashing, the diff, and the SQLAlchemy store of hashes, payloads, runs and the outbox."""
