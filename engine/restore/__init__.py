"""Restores: the typed request, choosing a verified archive, guarding the target, the single and two-pass loads,
staging, restoring to a point in time, and drills. engine.restore.run tells a restore top to bottom."""
