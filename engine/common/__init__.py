"""What every layer of the engine may use: the errors, the clock, settings and limits, progress reports, redaction of
secrets, typed decoding of stored files, namespace filters and the states the engine decides (types only)."""
