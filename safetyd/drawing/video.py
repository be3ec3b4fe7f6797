"""Writing video files that people can play: which codec, by the file's suffix.

WebM with VP8 plays in browsers (Chromium, Firefox) and OpenCV's PyPI wheels
encode it (checked: VP8 and VP9 encode, H.264 does not). MP4 gets H.264 where
this OpenCV can encode it, else MPEG-4 Part 2, which players such as VLC and
ffplay show but browsers do not.
"""

from __future__ import annotations

from pathlib import Path

import cv2

from ..vision.pose import native_chatter_hidden

WEBM = ("VP80",)
MP4 = ("avc1", "mp4v")


def codecs_for(path: Path) -> tuple[str, ...]:
    return WEBM if path.suffix.lower() == ".webm" else MP4


def open_video(
    path: Path, fps: float, size: tuple[int, int], quiet: bool = True
) -> tuple[cv2.VideoWriter, str] | None:
    """An open writer of ``size`` (width, height) frames and its codec, or None when
    no codec for the suffix would open (a codec missing, a folder not writable).
    ``quiet``: hide FFmpeg's lines about codecs it lacks."""
    for codec in codecs_for(path):
        with native_chatter_hidden(quiet):  # FFmpeg names each codec it cannot use
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*codec), fps, size)
        if writer.isOpened():
            return writer, codec
        writer.release()
    return None
