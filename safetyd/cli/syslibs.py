"""Explain missing system libraries instead of showing a loader traceback.

mediapipe's native library loads libEGL.so.1 and libGLESv2.so.2 at import even
on CPU, and the OpenCV it brings loads libGL.so.1 and GLib. A minimal server
image has none of them, and Python's message for that is a long traceback that
ends in ``cannot open shared object file``. The fix is always one apt line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

# shared object → Debian/Ubuntu package
PACKAGES = {
    "libEGL.so.1": "libegl1",
    "libGLESv2.so.2": "libgles2",
    "libGL.so.1": "libgl1",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libGLdispatch.so.0": "libglvnd0",
}
ALL_PACKAGES = "libegl1 libgles2 libgl1 libglib2.0-0"

_MISSING = re.compile(r"([\w.+-]+\.so[\w.]*): cannot open shared object file")


class MissingSystemLibrary(RuntimeError):
    pass


def explain(exc: BaseException) -> str | None:
    """A one-line explanation for a loader error, or None if it is something else."""
    text = str(exc)
    known = [lib for lib in PACKAGES if lib in text]
    missing = _MISSING.search(text)
    if not known and not missing:
        return None
    lib = known[0] if known else missing[1] if missing else ""
    package = PACKAGES.get(lib)
    which = f"the package {package}" if package else "the package that provides it"
    return (
        f"the system library {lib} is missing or unreadable (needed by mediapipe/OpenCV even "
        "without a GPU); "
        f"install {which}, e.g. on Debian/Ubuntu: sudo apt-get install {ALL_PACKAGES}"
    )


@contextmanager
def explained() -> Iterator[None]:
    """Re-raise loader errors as MissingSystemLibrary with the apt line to fix them."""
    try:
        yield
    except (ImportError, OSError) as exc:
        message = explain(exc)
        if message is None:
            raise
        raise MissingSystemLibrary(message) from None
