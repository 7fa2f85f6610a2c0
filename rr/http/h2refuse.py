"""Refusing a stream above ``max_concurrent_streams`` instead of the whole connection.

The ``h2`` library treats a HEADERS frame that would open one stream too many as a
connection error (``TooManyStreamsError`` → GOAWAY), which throws away every stream the
client has in flight. RFC 9113 §5.1.2 asks for a stream error: RST_STREAM with
REFUSED_STREAM for the excess stream only, so the client may retry it later on the same
connection. The header block of a refused stream is still decoded (the HPACK state is
shared by the connection, §4.3), which is why the stream is taken into ``h2``'s state
machine as usual and reset right away; data that follows for it is then answered by
``h2``'s handling of frames on a stream it reset (connection window credited back).
"""

from __future__ import annotations

from typing import Any

import h2.connection
import h2.errors
import h2.events


class StreamRefused(h2.events.Event):
    """A stream was refused for being over the limit (the RST_STREAM is queued)."""

    def __init__(self, stream_id: int) -> None:
        self.stream_id = stream_id


class RefusingConnection(h2.connection.H2Connection):
    """``H2Connection`` that refuses excess streams one by one (see the module doc)."""

    _admitting = False

    @property
    def open_inbound_streams(self) -> int:
        count = super().open_inbound_streams  # its side effect: closed streams are dropped
        # while an excess stream is being admitted to be reset, the limit check passes
        return 0 if self._admitting else count

    def _receive_headers_frame(self, frame: Any) -> tuple[list[Any], list[Any]]:
        sid = frame.stream_id
        if sid in self.streams or \
                self.open_inbound_streams < self.local_settings.max_concurrent_streams:
            return super()._receive_headers_frame(frame)  # type: ignore[no-any-return]
        self._admitting = True
        try:
            frames, events = super()._receive_headers_frame(frame)
        finally:
            self._admitting = False
        self.reset_stream(sid, h2.errors.ErrorCodes.REFUSED_STREAM)
        kept = [e for e in events if getattr(e, "stream_id", None) != sid]
        return frames, [*kept, StreamRefused(sid)]
