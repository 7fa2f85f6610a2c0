# ruff: noqa
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LogEntry(_message.Message):
    __slots__ = ("message", "log_attrs")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    LOG_ATTRS_FIELD_NUMBER: _ClassVar[int]
    message: str
    log_attrs: _containers.RepeatedCompositeFieldContainer[LogAttrs]
    def __init__(self, message: _Optional[str] = ..., log_attrs: _Optional[_Iterable[_Union[LogAttrs, _Mapping]]] = ...) -> None: ...

class LogAttrs(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: str
    def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class Response(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
