"""vaultui's engine: backup, restore, retention and compliance for MongoDB, free of any UI code."""

__version__ = "0.1.0"
