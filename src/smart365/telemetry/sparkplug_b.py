"""Sparkplug B 3.0 payload codec: the message classes, metric values and topic names.

The message classes are built at import time from the structure in ``sparkplug_b.proto`` (same names, field
numbers and types), so no ``protoc`` step or generated module is needed; the wire format is standard.

Topics: ``spBv1.0/<group>/<NBIRTH|NDEATH|DBIRTH|DDATA|DDEATH|NCMD>/<edge>[/<device>]``. ``seq`` runs 0–255 and
wraps, NBIRTH carries seq 0, NDEATH carries no seq (it is the MQTT Will) and both carry the same ``bdSeq``.
Used by the Sparkplug connector and by the simulator's edge node.

>>> payload = Payload(timestamp=1, seq=3)
>>> set_metric_value(payload.metrics.add(name="temp"), DataType.Double, 60.5)
>>> restored = decode(payload.SerializeToString())
>>> restored.seq, metric_value(restored.metrics[0])
(3, 60.5)
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

NAMESPACE = "spBv1.0"
PACKAGE = "org.eclipse.tahu.protobuf"
BD_SEQ = "bdSeq"
REBIRTH = "Node Control/Rebirth"


class DataType(IntEnum):
    """Sparkplug B metric data types."""

    Unknown = 0
    Int8 = 1
    Int16 = 2
    Int32 = 3
    Int64 = 4
    UInt8 = 5
    UInt16 = 6
    UInt32 = 7
    UInt64 = 8
    Float = 9
    Double = 10
    Boolean = 11
    String = 12
    DateTime = 13
    Text = 14
    UUID = 15
    DataSet = 16
    Bytes = 17
    File = 18
    Template = 19


_F = descriptor_pb2.FieldDescriptorProto
_SCALARS = {
    "uint32": _F.TYPE_UINT32,
    "uint64": _F.TYPE_UINT64,
    "float": _F.TYPE_FLOAT,
    "double": _F.TYPE_DOUBLE,
    "bool": _F.TYPE_BOOL,
    "string": _F.TYPE_STRING,
    "bytes": _F.TYPE_BYTES,
}
# message → fields (name, number, type, repeated, in the ``value`` oneof); mirrors sparkplug_b.proto
_MESSAGES: dict[str, list[tuple[str, int, str, bool, bool]]] = {
    "PropertyValue": [
        ("type", 1, "uint32", False, False),
        ("is_null", 2, "bool", False, False),
        ("int_value", 3, "uint32", False, True),
        ("long_value", 4, "uint64", False, True),
        ("float_value", 5, "float", False, True),
        ("double_value", 6, "double", False, True),
        ("boolean_value", 7, "bool", False, True),
        ("string_value", 8, "string", False, True),
    ],
    "PropertySet": [("keys", 1, "string", True, False), ("values", 2, "PropertyValue", True, False)],
    "MetaData": [
        ("is_multi_part", 1, "bool", False, False),
        ("content_type", 2, "string", False, False),
        ("size", 3, "uint64", False, False),
        ("seq", 4, "uint64", False, False),
        ("file_name", 5, "string", False, False),
        ("file_type", 6, "string", False, False),
        ("md5", 7, "string", False, False),
        ("description", 8, "string", False, False),
    ],
    "Metric": [
        ("name", 1, "string", False, False),
        ("alias", 2, "uint64", False, False),
        ("timestamp", 3, "uint64", False, False),
        ("datatype", 4, "uint32", False, False),
        ("is_historical", 5, "bool", False, False),
        ("is_transient", 6, "bool", False, False),
        ("is_null", 7, "bool", False, False),
        ("metadata", 8, "MetaData", False, False),
        ("properties", 9, "PropertySet", False, False),
        ("int_value", 10, "uint32", False, True),
        ("long_value", 11, "uint64", False, True),
        ("float_value", 12, "float", False, True),
        ("double_value", 13, "double", False, True),
        ("boolean_value", 14, "bool", False, True),
        ("string_value", 15, "string", False, True),
        ("bytes_value", 16, "bytes", False, True),
    ],
}
_PAYLOAD_FIELDS = [
    ("timestamp", 1, "uint64", False, False),
    ("metrics", 2, "Metric", True, False),
    ("seq", 3, "uint64", False, False),
    ("uuid", 4, "string", False, False),
    ("body", 5, "bytes", False, False),
]


def _add_fields(msg: descriptor_pb2.DescriptorProto, fields: list[tuple[str, int, str, bool, bool]]) -> None:
    if any(f[4] for f in fields):
        msg.oneof_decl.add(name="value")
    for name, number, type_, repeated, in_oneof in fields:
        field = msg.field.add(name=name, number=number)
        field.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
        if type_ in _SCALARS:
            field.type = _SCALARS[type_]
        else:
            field.type, field.type_name = _F.TYPE_MESSAGE, f".{PACKAGE}.Payload.{type_}"
        if in_oneof:
            field.oneof_index = 0


def _build_payload_class() -> Any:
    """Build the ``Payload`` message class in a private descriptor pool."""
    file = descriptor_pb2.FileDescriptorProto(name="smart365_sparkplug_b.proto", package=PACKAGE, syntax="proto2")
    payload = file.message_type.add(name="Payload")
    for name, fields in _MESSAGES.items():
        _add_fields(payload.nested_type.add(name=name), fields)
    _add_fields(payload, _PAYLOAD_FIELDS)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.Payload"))


Payload = _build_payload_class()

_INT32 = {DataType.Int8, DataType.Int16, DataType.Int32, DataType.UInt8, DataType.UInt16, DataType.UInt32}
_INT64 = {DataType.Int64, DataType.UInt64, DataType.DateTime}
_SIGNED_BITS = {DataType.Int8: 8, DataType.Int16: 16, DataType.Int32: 32, DataType.Int64: 64}
_STRINGS = {DataType.String, DataType.Text, DataType.UUID}


def set_metric_value(metric: Any, datatype: DataType, value: Any) -> None:
    """Store ``value`` in the oneof field that ``datatype`` uses (negative ints as two's complement)."""
    metric.datatype = int(datatype)
    if value is None:
        metric.is_null = True
    elif datatype in _INT32:
        metric.int_value = int(value) & 0xFFFFFFFF
    elif datatype in _INT64:
        metric.long_value = int(value) & 0xFFFFFFFFFFFFFFFF
    elif datatype is DataType.Float:
        metric.float_value = float(value)
    elif datatype is DataType.Double:
        metric.double_value = float(value)
    elif datatype is DataType.Boolean:
        metric.boolean_value = bool(value)
    elif datatype in _STRINGS:
        metric.string_value = str(value)
    else:
        metric.bytes_value = bytes(value)


def metric_value(metric: Any, datatype: DataType | None = None) -> Any:
    """The Python value of a decoded metric (``datatype`` from the birth when the data message omits it).

    >>> m = Payload.Metric(); set_metric_value(m, DataType.Int16, -5); metric_value(m)
    -5
    """
    if metric.is_null:
        return None
    kind = metric.WhichOneof("value")
    value = getattr(metric, kind) if kind else None
    dtype = DataType(metric.datatype) if metric.HasField("datatype") else datatype
    bits = _SIGNED_BITS.get(dtype) if dtype is not None else None
    if bits and isinstance(value, int) and value >= 1 << (bits - 1):  # two's complement in 32 or 64 bits
        value -= 1 << (32 if bits < 64 else 64)
    return value


def decode(raw: bytes) -> Any:
    """Parse a Sparkplug B payload."""
    payload = Payload()
    payload.ParseFromString(raw)
    return payload


def topic(group: str, message_type: str, edge: str, device: str | None = None) -> str:
    """``spBv1.0/<group>/<type>/<edge>[/<device>]``.

    >>> topic("smart365", "DDATA", "hanbit", "IMM-01")
    'spBv1.0/smart365/DDATA/hanbit/IMM-01'
    """
    return "/".join([NAMESPACE, group, message_type, edge, *([device] if device else [])])
