"""The database: SQLite (embedded default) or PostgreSQL, behind the domain's store ports."""
