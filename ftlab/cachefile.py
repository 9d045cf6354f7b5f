"""Read a cached ``.npz``/``.npy`` file, or report it damaged and let the caller rebuild it.

One function serves the image, video and feature caches: a truncated or otherwise damaged entry
(``zipfile.BadZipFile``, ``EOFError``, missing keys, a short array …) is deleted with one message
naming the file, and the caller decodes again and overwrites it.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import numpy as np

DAMAGE = (OSError, ValueError, KeyError, EOFError, TypeError, zipfile.BadZipFile)


def load_cached(path, read, what: str = "cache file"):
    """Return ``read(np.load(path))``, or ``None`` (file deleted, message printed) if it is damaged.

    Args:
        path: cache file (``.npz`` or ``.npy``); a missing file returns ``None`` silently.
        read: function of the loaded object (an ``NpzFile`` or array) returning the cached value;
            it may raise ``ValueError``/``KeyError`` to reject an entry that does not fit.
        what: the kind of cache, for the message.

    Example:
        >>> load_cached("/nonexistent.npz", lambda npz: npz["x"]) is None
        True
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                return read(loaded)
        return read(loaded)
    except DAMAGE as error:
        print(f"{what} {path} is damaged ({type(error).__name__}: {error}); rebuilding it", file=sys.stderr)
        path.unlink(missing_ok=True)
        return None
