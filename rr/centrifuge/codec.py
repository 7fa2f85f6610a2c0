"""The two framings of the client protocol (spec §B.2, §B.3), behind one interface so a
connection and the hub's fan-out work in plain dicts whatever the client speaks.

Inside rr a command or reply is a dict keyed by protobuf field names, the shape of the
JSON protocol. Payload fields (``data``, ``info``, ``conn_info``, ``chan_info``) hold
either a decoded JSON value or ``bytes``: bytes are a payload kept opaque, which is what
a protobuf client sends and what it gets back unchanged.

* JSON: text frames, messages separated by ``\\n``; bytes payloads are embedded as the
  JSON they contain (as a JSON string when they are not JSON).
* Protobuf: binary frames of ``Command`` / ``Reply`` messages, each prefixed with its
  length as an unsigned varint; JSON payload values are sent as their compact JSON bytes.
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.internal.decoder import _DecodeVarint  # type: ignore[attr-defined]
from google.protobuf.internal.encoder import _VarintBytes  # type: ignore[attr-defined]
from google.protobuf.message import DecodeError, Message

from rr.centrifuge.proto import client_protocol_pb2

pb: Any = client_protocol_pb2


class BadFrame(Exception):
    """A frame that cannot be decoded: the connection closes with 3501."""


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        try:
            return json.loads(value)
        except ValueError:
            return bytes(value).decode("utf-8", "replace")
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"),
                          default=_json_default).encode


def parse_json(data: bytes) -> Any:
    """Bytes that should be JSON (spec §B.3): the value, None for empty or not JSON."""
    if not data:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


class JsonCodec:
    name = "json"
    binary = False

    def decode(self, data: str | bytes) -> list[dict[str, Any]]:
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        out = []
        for line in text.strip().split("\n"):
            try:
                cmd = json.loads(line)
            except (ValueError, RecursionError):
                raise BadFrame from None
            if not isinstance(cmd, dict):
                raise BadFrame
            out.append(cmd)
        return out

    def encode(self, msg: dict[str, Any]) -> bytes:
        return _dumps(msg).encode()

    def join(self, batch: list[bytes]) -> str:
        return b"\n".join(batch).decode()

    def payload(self, data: bytes) -> Any:
        """A payload from PHP as this framing carries it: decoded JSON (or None)."""
        return parse_json(data)

    def raw(self, value: Any) -> bytes:
        """A payload from the client as the bytes PHP gets (raw JSON)."""
        if value is None:
            return b""
        return bytes(value) if isinstance(value, bytes | bytearray) else _dumps(value).encode()


class ProtobufCodec(JsonCodec):
    name = "protobuf"
    binary = True

    def decode(self, data: str | bytes) -> list[dict[str, Any]]:
        buf = data.encode() if isinstance(data, str) else data
        out = []
        pos = 0
        try:
            while pos < len(buf):
                size, pos = _DecodeVarint(buf, pos)
                if pos + size > len(buf):
                    raise BadFrame
                cmd = pb.Command()
                cmd.ParseFromString(buf[pos:pos + size])
                pos += size
                out.append(to_dict(cmd))
        except (DecodeError, IndexError, ValueError):
            raise BadFrame from None
        if not out:
            raise BadFrame
        return out

    def encode(self, msg: dict[str, Any]) -> bytes:
        body = from_dict(pb.Reply(), msg).SerializeToString()
        return bytes(_VarintBytes(len(body))) + body

    def join(self, batch: list[bytes]) -> bytes:  # type: ignore[override]
        return b"".join(batch)

    def payload(self, data: bytes) -> Any:
        """In protobuf mode payloads are opaque bytes (spec §B.3): passed on unchanged."""
        return bytes(data) if data else None


JSON = JsonCodec()
PROTOBUF = ProtobufCodec()
Codec = JsonCodec


# -- dict <-> message, by the descriptor (bytes stay bytes) ---------------------------------
def to_dict(msg: Message) -> dict[str, Any]:
    """Set fields only, as the JSON protocol omits zero values; a set sub-message is
    present even when empty (``{"unsubscribe": {}}``)."""
    out: dict[str, Any] = {}
    for f, value in msg.ListFields():
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            vf = f.message_type.fields_by_name["value"]
            out[f.name] = {k: (to_dict(v) if vf.message_type is not None else v)
                           for k, v in value.items()}
        elif f.is_repeated:
            out[f.name] = [to_dict(v) if f.message_type is not None else v for v in value]
        elif f.message_type is not None:
            out[f.name] = to_dict(value)
        else:
            out[f.name] = value
    return out


def from_dict(msg: Message, d: dict[str, Any]) -> Message:
    desc: Any = msg.DESCRIPTOR
    for key, value in d.items():
        f = desc.fields_by_name.get(key)
        if f is None or value is None:
            continue
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            target = getattr(msg, key)
            vf = f.message_type.fields_by_name["value"]
            for k, v in value.items():
                if vf.message_type is not None:
                    from_dict(target[k], v)
                else:
                    target[k] = _scalar(vf, v)
        elif f.is_repeated:
            target = getattr(msg, key)
            for v in value:
                if f.message_type is not None:
                    from_dict(target.add(), v)
                else:
                    target.append(_scalar(f, v))
        elif f.message_type is not None:
            sub = getattr(msg, key)
            sub.SetInParent()
            from_dict(sub, value)
        else:
            setattr(msg, key, _scalar(f, value))
    return msg


def _scalar(f: FieldDescriptor, value: Any) -> Any:
    if f.type == FieldDescriptor.TYPE_BYTES:
        return bytes(value) if isinstance(value, bytes | bytearray) else _dumps(value).encode()
    return value
