"""Many deployments at once: the fleet file that names them (file) and one row of SLA figures per deployment,
each loaded on its own thread with a deadline (rows)."""
