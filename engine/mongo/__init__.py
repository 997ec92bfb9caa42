"""Talking to MongoDB: connecting and choosing what to dump, the real mongo tools as child processes, index specs
made acceptable to MongoDB 4.2+, and namespace renaming."""
