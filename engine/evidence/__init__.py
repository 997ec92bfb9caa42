"""What the storage proves about its runs: the signed run ledger and its local cache, the storage lease, the
end-to-end verification of an archive and the verification evidence of every archive's state."""
