"""Re-saves mtfuse files written before the checksum covered metadata: a
version 1 weight blob, or a simulator file, whose `checksum` is the CRC-32
of the data section only. Checks that old checksum first, so a corrupt file
is not blessed, then writes the version 2 checksum (docs/blob-format.md) in
place. Usage: python3 scripts/upgrade_blob.py FILE..."""
import json
import struct
import sys
import zlib


def content_checksum(meta_json, header, data):
    c = zlib.crc32(meta_json.encode())
    for name in sorted((k for k in header if k != "__metadata__"), key=lambda k: k.encode()):
        start, stop = header[name]["data_offsets"]
        c = zlib.crc32(name.encode() + b"\0" + data[start:stop], c)
    return f"crc32:{c:08x}"


def upgrade(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header, data = json.loads(raw[8 : 8 + n]), raw[8 + n :]
    md = header["__metadata__"]
    if md["checksum"] != f"crc32:{zlib.crc32(data):08x}":
        sys.exit(f"{path}: its checksum does not match its data; not upgrading a corrupt or already upgraded file")
    key = "mtfuse" if "mtfuse" in md else "simulator"
    if key == "mtfuse":
        if md.get("format_version") != "1":
            sys.exit(f"{path}: format version {md.get('format_version')}, expected 1")
        md["format_version"] = "2"
    md["checksum"] = content_checksum(md[key], header, data)
    out = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    out += b" " * (-len(out) % 8)
    open(path, "wb").write(struct.pack("<Q", len(out)) + out + data)
    print(f"{path}: {md['checksum']}")


for p in sys.argv[1:]:
    upgrade(p)
