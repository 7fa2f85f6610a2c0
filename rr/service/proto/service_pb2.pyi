# ruff: noqa
from google.protobuf import any_pb2 as _any_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Create(_message.Message):
    __slots__ = ("name", "command", "process_num", "exec_timeout", "remain_after_exit", "env", "restart_sec", "service_name_in_logs", "timeout_stop_sec")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    PROCESS_NUM_FIELD_NUMBER: _ClassVar[int]
    EXEC_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    REMAIN_AFTER_EXIT_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    RESTART_SEC_FIELD_NUMBER: _ClassVar[int]
    SERVICE_NAME_IN_LOGS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_STOP_SEC_FIELD_NUMBER: _ClassVar[int]
    name: str
    command: str
    process_num: int
    exec_timeout: int
    remain_after_exit: bool
    env: _containers.ScalarMap[str, str]
    restart_sec: int
    service_name_in_logs: bool
    timeout_stop_sec: int
    def __init__(self, name: _Optional[str] = ..., command: _Optional[str] = ..., process_num: _Optional[int] = ..., exec_timeout: _Optional[int] = ..., remain_after_exit: _Optional[bool] = ..., env: _Optional[_Mapping[str, str]] = ..., restart_sec: _Optional[int] = ..., service_name_in_logs: _Optional[bool] = ..., timeout_stop_sec: _Optional[int] = ...) -> None: ...

class Service(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class Response(_message.Message):
    __slots__ = ("message", "ok")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    message: str
    ok: bool
    def __init__(self, message: _Optional[str] = ..., ok: _Optional[bool] = ...) -> None: ...

class ErrorStatus(_message.Message):
    __slots__ = ("code", "message", "details")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    details: _containers.RepeatedCompositeFieldContainer[_any_pb2.Any]
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ..., details: _Optional[_Iterable[_Union[_any_pb2.Any, _Mapping]]] = ...) -> None: ...

class Status(_message.Message):
    __slots__ = ("cpu_percent", "pid", "memory_usage", "command", "status")
    CPU_PERCENT_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    MEMORY_USAGE_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    cpu_percent: float
    pid: int
    memory_usage: int
    command: str
    status: ErrorStatus
    def __init__(self, cpu_percent: _Optional[float] = ..., pid: _Optional[int] = ..., memory_usage: _Optional[int] = ..., command: _Optional[str] = ..., status: _Optional[_Union[ErrorStatus, _Mapping]] = ...) -> None: ...

class Statuses(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: _containers.RepeatedCompositeFieldContainer[Status]
    def __init__(self, status: _Optional[_Iterable[_Union[Status, _Mapping]]] = ...) -> None: ...

class List(_message.Message):
    __slots__ = ("services",)
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    services: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, services: _Optional[_Iterable[str]] = ...) -> None: ...
