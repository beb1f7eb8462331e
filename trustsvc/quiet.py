"""Keep dependencies' deprecation notices away from the people who run the service.

A library warning that cryptography will drop DSA one day is news for this project's
maintainers (the test suite shows it), not for an operator running ``trustsvc verify``.
The command line installs these filters before it imports anything heavy; ``-W`` options and
``PYTHONWARNINGS`` still win, so a developer can always see them.
"""

from __future__ import annotations

import sys
import warnings

__all__ = ["silence_dependency_warnings"]


def silence_dependency_warnings() -> None:
    """Ignore deprecation warnings (cryptography's own class included) unless asked for."""
    if sys.warnoptions:
        return
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=PendingDeprecationWarning)
    try:
        from cryptography.utils import CryptographyDeprecationWarning
    except ImportError:  # pragma: no cover - cryptography is a hard dependency
        return
    warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning)
