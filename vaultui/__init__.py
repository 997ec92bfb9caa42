"""vaultui's face: the Textual dashboard and the command line."""

from engine import __version__

__all__ = ["__version__"]
