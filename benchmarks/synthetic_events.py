"""TensorBoard event files at the paper preset's density, written fast for the synthetic study
(benchmarks/synthetic_study.py).

TensorBoard's writer (and torch's SummaryWriter over it) computes each record's CRC32C in
pure Python: about 1.2 s for one paper-length run's 15,600 scalars, hours for 12,600 runs.
Here the serialized Event protos of a run are built once per tag set with TensorBoard's own
protobuf classes (a :class:`Template`); a run then only overwrites each record's wall time
and value in a copy of the template and recomputes the records' CRC32C checksums with
numpy, all records at once (the TFRecord framing: length, masked CRC of the length, data,
masked CRC of the data). The bytes are what TensorBoard's writer would have written for
those values; TensorBoard's reader checks every checksum.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2

_POLY = 0x82F63B78  # CRC32C, reflected
_MASK_DELTA = 0xA282EAD8


def _crc_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(_POLY), table >> 1)
    return table.astype(np.uint32)


CRC_TABLE = _crc_table()


def masked_crc32c(rows: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """TFRecord's masked CRC32C of each row's first ``lengths[i]`` bytes (rows: uint8,
    zero-padded on the right)."""
    crc = np.full(len(rows), 0xFFFFFFFF, dtype=np.uint32)
    for j in range(rows.shape[1]):
        live = lengths > j
        c = crc[live]
        crc[live] = CRC_TABLE[(c ^ rows[live, j]) & 0xFF] ^ (c >> 8)
    crc ^= np.uint32(0xFFFFFFFF)
    rotated = ((crc >> 15) | (crc << 17)).astype(np.uint64)
    return ((rotated + _MASK_DELTA) & 0xFFFFFFFF).astype(np.uint32)


def scalar_event(tag: str, step: int, wall_time: float, value: float) -> bytes:
    """What torch's SummaryWriter.add_scalar logs (a simple_value summary)."""
    summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])
    return event_pb2.Event(wall_time=wall_time, step=step, summary=summary).SerializeToString()


def image_event(tag: str, step: int, wall_time: float, png: bytes, height: int,
                width: int) -> bytes:
    """What SummaryWriter.add_image logs (an encoded PNG summary)."""
    image = summary_pb2.Summary.Image(height=height, width=width, colorspace=3,
                                      encoded_image_string=png)
    summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, image=image)])
    return event_pb2.Event(wall_time=wall_time, step=step, summary=summary).SerializeToString()


def version_event(wall_time: float) -> bytes:
    return event_pb2.Event(wall_time=wall_time, file_version="brain.Event:2").SerializeToString()


@dataclass
class Template:
    """One run's event file with placeholder scalar wall times and values: the framed bytes and
    where each scalar record's wall time, value and data checksum sit. The other records (file
    version, images) are final: their wall time is the template's."""

    data: np.ndarray  # uint8, the whole file
    starts: np.ndarray  # offset of each scalar record's data, in (step, tag) order
    lengths: np.ndarray  # each scalar record's data length
    n_steps: int
    n_tags: int


def _masked_many(payloads: Sequence[bytes]) -> np.ndarray:
    """Masked CRC32C of each payload (all at once)."""
    lengths = np.array([len(p) for p in payloads], dtype=np.int64)
    rows = np.zeros((len(payloads), int(lengths.max(initial=0))), dtype=np.uint8)
    for i, p in enumerate(payloads):
        rows[i, :len(p)] = np.frombuffer(p, dtype=np.uint8)
    return masked_crc32c(rows, lengths)


def build_template(tags: Sequence[str], steps: Sequence[int], wall_time: float,
                   images: Sequence[tuple[str, int, bytes, int, int]] = ()) -> Template:
    """The records of a run logging every tag at every step (step-major, tags in the order the
    trainer logs them), ``images`` (tag, step, png, height, width) after their step's
    scalars, and a file-version record first."""
    by_step: dict[int, list[bytes]] = {}
    for tag, step, png, h, w in images:
        by_step.setdefault(step, []).append(image_event(tag, step, wall_time, png, h, w))
    payloads, scalar = [version_event(wall_time)], []
    for step in steps:
        for tag in tags:
            scalar.append(len(payloads))
            payloads.append(scalar_event(tag, step, 1.0, 0.0))
            # the layout the fast path relies on: wall time at bytes 1-8, the value last
            assert payloads[-1][0] == 0x09 and payloads[-1][1:9] == struct.pack("<d", 1.0)
        payloads += by_step.get(step, [])
    headers = [struct.pack("<Q", len(p)) for p in payloads]
    header_crcs = _masked_many(headers)
    data_crcs = np.zeros(len(payloads), dtype=np.uint32)
    final = np.setdiff1d(np.arange(len(payloads)), scalar)
    data_crcs[final] = _masked_many([payloads[i] for i in final])
    parts = [b"".join((h, struct.pack("<I", hc), p, struct.pack("<I", dc)))
             for h, hc, p, dc in zip(headers, header_crcs, payloads, data_crcs, strict=True)]
    lengths = np.array([len(p) for p in payloads], dtype=np.int64)
    starts = np.cumsum(np.concatenate([[0], lengths[:-1] + 16])) + 12
    return Template(np.frombuffer(b"".join(parts), dtype=np.uint8).copy(), starts[scalar],
                    lengths[scalar], len(steps), len(tags))


def fill(template: Template, wall_times: np.ndarray, values: np.ndarray) -> bytes:
    """The event file's bytes for one run: ``wall_times`` (n_steps,) and ``values``
    (n_steps, n_tags, float32) of the scalar records, in the template's order."""
    data = template.data.copy()
    starts, lengths = template.starts, template.lengths
    wall = np.repeat(np.asarray(wall_times, dtype="<f8"), template.n_tags)
    data[starts[:, None] + 1 + np.arange(8)] = wall.view(np.uint8).reshape(-1, 8)
    ends = starts + lengths
    data[ends[:, None] - 4 + np.arange(4)] = (
        np.asarray(values, dtype="<f4").reshape(-1).view(np.uint8).reshape(-1, 4))
    width = int(lengths.max())
    cols = np.arange(width)
    rows = data[np.minimum(starts[:, None] + cols, len(data) - 1)]
    rows[cols[None, :] >= lengths[:, None]] = 0
    crcs = masked_crc32c(rows, lengths)
    data[ends[:, None] + np.arange(4)] = crcs.astype("<u4").view(np.uint8).reshape(-1, 4)
    return data.tobytes()
