"""TensorBoard event files of scalars, written with the `tensorboard` package alone.

TensorFlow's `tf.summary` is not needed (nor imported).  The events are the
protocol buffers of `tensorboard.compat.proto`; each scalar is the float32
tensor of the "scalars" plugin, as `tf.summary.scalar` writes it, so
TensorBoard shows them like Keras's own.  An event file is a sequence of
TFRecords: the length (uint64), its masked CRC32C, the data, the data's
masked CRC32C.  `tensorboard`'s own framing
(`tensorboard.summary.writer.record_writer.RecordWriter`) computes the CRC in
Python byte by byte, about 40 µs a record; `frame` computes the CRCs of a
whole epoch's records at once with NumPy, one byte position at a time.
Pinned against `RecordWriter` by tests/test_lr_monitor.py.  The file is
written synchronously: `flush` puts every record so far on disk.
"""

from __future__ import annotations

import itertools
import os
import socket
import struct
import time
from typing import Any

import numpy as np

INSTALL_HINT = (
    "LearningRateMonitor(log_dir=...) writes TensorBoard event files with the "
    "`tensorboard` package, which is not installed: `pip install tensorboard` "
    '(or `pip install "keras-lr[tensorboard]"`), or pass log_dir=None to keep '
    "only the callback's `.history`."
)

_FILE_COUNTER = itertools.count()


def require_tensorboard() -> None:
    """Raises ImportError naming `pip install tensorboard` if it is missing."""
    try:
        from tensorboard.compat.proto import event_pb2  # noqa: F401
        from tensorboard.plugins.scalar import metadata  # noqa: F401
    except ImportError as error:
        raise ImportError(INSTALL_HINT) from error


def _crc32c_table() -> np.ndarray:
    """The byte table of CRC32C (Castagnoli, reflected polynomial 0x82F63B78)."""
    crc = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        crc = np.where(crc & 1, (crc >> 1) ^ np.uint32(0x82F63B78), crc >> 1).astype(np.uint32)
    return crc


_TABLE = _crc32c_table()


def masked_crc32c(rows: np.ndarray) -> np.ndarray:
    """TFRecord's masked CRC32C of each row of a uint8 matrix (rows of one length)."""
    crc = np.full(rows.shape[0], 0xFFFFFFFF, dtype=np.uint32)
    for column in rows.T:
        crc = _TABLE[(crc ^ column) & 0xFF] ^ (crc >> 8)
    crc ^= np.uint32(0xFFFFFFFF)
    return ((crc >> 15) | (crc << 17)) + np.uint32(0xA282EAD8)  # wraps mod 2**32


def frame(payloads: list[bytes]) -> bytes:
    """The TFRecords of `payloads`, in order, as one byte string."""
    by_length: dict[int, list[int]] = {}
    for i, payload in enumerate(payloads):
        by_length.setdefault(len(payload), []).append(i)
    footers: list = [None] * len(payloads)
    headers = {}
    for length, indices in by_length.items():
        header = struct.pack("<Q", length)
        head_crc = masked_crc32c(np.frombuffer(header, np.uint8)[None, :])[0]
        headers[length] = header + struct.pack("<I", int(head_crc))
        rows = np.frombuffer(b"".join(payloads[i] for i in indices), np.uint8)
        for i, crc in zip(indices, masked_crc32c(rows.reshape(len(indices), length))):
            footers[i] = struct.pack("<I", int(crc))
    return b"".join(headers[len(p)] + p + footer for p, footer in zip(payloads, footers))


class ScalarEventWriter:
    """Appends scalar summaries to a new event file in `folder`.

    Args:
        folder: the run's folder (created if missing); TensorBoard reads
            every `*tfevents*` file in it as one run.
        suffix: ends the file name, so that it never takes the name of an
            event file of another writer.
    """

    def __init__(self, folder: str | os.PathLike, suffix: str = ".keras_lr"):
        require_tensorboard()
        from tensorboard.compat.proto import event_pb2, summary_pb2, types_pb2
        from tensorboard.plugins.scalar import metadata

        self._event_pb2, self._summary_pb2, self._metadata = event_pb2, summary_pb2, metadata
        self._float = types_pb2.DT_FLOAT
        self._described: set[str] = set()  # tags whose metadata this file holds
        os.makedirs(folder, exist_ok=True)
        name = (
            f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}"
            f".{os.getpid()}.{next(_FILE_COUNTER)}{suffix}"
        )
        self.path = os.path.join(os.fspath(folder), name)
        self._file = open(self.path, "xb")
        header = event_pb2.Event(
            wall_time=time.time(),
            file_version="brain.Event:2",
            source_metadata=event_pb2.SourceMetadata(writer="keras_lr"),
        )
        self._file.write(frame([header.SerializeToString()]))
        self.flush()

    @property
    def closed(self) -> bool:
        return self._file.closed

    def scalars(self, steps: Any, values: dict, wall_times: Any) -> None:
        """One event per step holding every tag's value at that step.

        Args:
            steps: int steps, one per event.
            values: tag -> float values, one per step (NaN: no value there).
            wall_times: seconds since the epoch, one per step.
        """
        # Python floats and one Event filled again for each step: NumPy
        # scalars and new messages cost microseconds apiece here.
        columns = [(tag, np.asarray(c, dtype=np.float64).tolist()) for tag, c in values.items()]
        walls = np.asarray(wall_times, dtype=np.float64).tolist()
        event = self._event_pb2.Event()
        payloads = []
        for i, step in enumerate(np.asarray(steps).tolist()):
            event.Clear()
            event.step, event.wall_time = step, walls[i]
            for tag, column in columns:
                if column[i] != column[i]:  # NaN: no value at this step
                    continue
                entry = event.summary.value.add()
                entry.tag = tag
                entry.tensor.dtype = self._float
                entry.tensor.tensor_shape.SetInParent()  # a scalar, as tf.summary writes it
                entry.tensor.float_val.append(column[i])
                if tag not in self._described:
                    # The plugin and data class go with a tag's first value in the file.
                    self._described.add(tag)
                    entry.metadata.CopyFrom(self._metadata.create_summary_metadata(tag, ""))
                    entry.metadata.data_class = self._summary_pb2.DATA_CLASS_SCALAR
            if event.summary.value:
                payloads.append(event.SerializeToString())
        if payloads:
            self._file.write(frame(payloads))

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            self._file.close()
