"""Point-in-time recovery's parts: capturing the oplog into the storage, the chunk store and its names, the oplog a
base archive carries, where a base archive starts and ends, planning a restore to a time, replaying entries, and
the restorable time (coverage and RPO). The restore itself is engine.restore.to_time."""
