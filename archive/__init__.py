"""dangan 档案: an OAIS-style electronic records archive for community archives.

The storage, catalogue, bag and fixity layer; the application (:mod:`dangan`) sits on top of it.
"""

from __future__ import annotations

__version__ = "0.1.0"
