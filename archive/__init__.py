"""dangan 档案: an OAIS-style electronic records archive for community archives.

The library API lives in the submodules; the CLI (:mod:`archive.cli`) is a thin layer over it.
"""

from __future__ import annotations

__version__ = "0.1.0"
