"""One backup run (engine.backup.run tells it top to bottom) and the native dumper it streams from."""
