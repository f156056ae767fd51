#!/usr/bin/python3
"""Reads TensorBoard event files with Google's protobuf runtime, independently of Geodesy's writer.

Usage: /usr/bin/python3 tools/tensorboard/read_events.py EVENT_FILE
Prints one JSON object per line: {"step", "tag", "simple_value"} for scalars and
{"step", "tag", "histo": {min, max, num, sum, sum_squares, bucket_limit, bucket}} for histograms;
the first line is {"file_version": ...}. Exits 1 on a bad CRC or a record that does not parse.

The message types are declared here from tensorflow/core/util/event.proto and
tensorflow/core/framework/summary.proto (field numbers as in TensorFlow), so the file is decoded
by protobuf's own parser. Needs Debian's python3-protobuf (apt-get install python3-protobuf).
The CRC is CRC-32C computed bit by bit (no table) and masked as TFRecord does.
"""
import json
import struct
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def message_types():
    f = descriptor_pb2.FileDescriptorProto(name="geodesy_tb_check.proto", package="tensorflow", syntax="proto3")
    T = descriptor_pb2.FieldDescriptorProto
    def add(msg, name, number, ftype, label=T.LABEL_OPTIONAL, type_name=None, packed=False):
        fld = msg.field.add(name=name, number=number, type=ftype, label=label)
        if type_name:
            fld.type_name = type_name
        if packed:
            fld.options.packed = True
    h = f.message_type.add(name="HistogramProto")
    for i, n in enumerate(["min", "max", "num", "sum", "sum_squares"], start=1):
        add(h, n, i, T.TYPE_DOUBLE)
    add(h, "bucket_limit", 6, T.TYPE_DOUBLE, T.LABEL_REPEATED, packed=True)
    add(h, "bucket", 7, T.TYPE_DOUBLE, T.LABEL_REPEATED, packed=True)
    s = f.message_type.add(name="Summary")
    v = s.nested_type.add(name="Value")
    add(v, "tag", 1, T.TYPE_STRING)
    add(v, "simple_value", 2, T.TYPE_FLOAT)
    add(v, "histo", 5, T.TYPE_MESSAGE, type_name=".tensorflow.HistogramProto")
    add(s, "value", 1, T.TYPE_MESSAGE, T.LABEL_REPEATED, type_name=".tensorflow.Summary.Value")
    e = f.message_type.add(name="Event")
    add(e, "wall_time", 1, T.TYPE_DOUBLE)
    add(e, "step", 2, T.TYPE_INT64)
    add(e, "file_version", 3, T.TYPE_STRING)
    add(e, "summary", 5, T.TYPE_MESSAGE, type_name=".tensorflow.Summary")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    desc = pool.FindMessageTypeByName("tensorflow.Event")
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(desc)
    return message_factory.MessageFactory(pool).GetPrototype(desc)


def main(path):
    Event = message_types()
    data = open(path, "rb").read()
    pos = 0
    while pos < len(data):
        header = data[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (crc_len,) = struct.unpack("<I", data[pos + 8:pos + 12])
        if crc_len != masked(header):
            sys.exit(f"{path}: bad length CRC at byte {pos}")
        payload = data[pos + 12:pos + 12 + length]
        (crc_data,) = struct.unpack("<I", data[pos + 12 + length:pos + 16 + length])
        if len(payload) != length or crc_data != masked(payload):
            sys.exit(f"{path}: bad data CRC at byte {pos}")
        pos += 16 + length
        e = Event()
        e.ParseFromString(payload)
        if e.file_version:
            print(json.dumps({"file_version": e.file_version}))
        for v in e.summary.value:
            row = {"step": e.step, "tag": v.tag}
            if v.HasField("histo"):
                h = v.histo
                row["histo"] = {"min": h.min, "max": h.max, "num": h.num, "sum": h.sum, "sum_squares": h.sum_squares,
                                "bucket_limit": list(h.bucket_limit), "bucket": list(h.bucket)}
            else:
                row["simple_value"] = v.simple_value
            print(json.dumps(row))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
