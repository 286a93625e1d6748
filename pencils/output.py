"""Writing result records so that no computed point is lost.

Every command that computes a series of points (``pencils solve --sweep``,
``pencils curve``, ``pencils figure``, ``pencils validate``) hands each record
to one :class:`RecordWriter` as soon as it is computed. The writer passes it
to its sinks:

* :class:`CSVSink` appends one line and flushes (the header goes first; the
  columns are taken from the records, so new columns need no code here);
* :class:`DocumentSink` renders the whole document (JSON, Markdown...) and, for
  a file, replaces it atomically (``path.tmp`` then :func:`os.replace`) after
  every record; for a stream it writes the document once, at the end, also
  when the command fails or is interrupted.

A line or a file is never left half-written: SIGINT and SIGTERM are held back
while one is written (:func:`critical`). When the command fails or is
interrupted, the writer adds a note to the exception saying how far it got
(``wrote 17 of 60 points to c.csv before: interrupted (SIGINT)``), which the
``pencils`` command prints.

Output paths are checked before anything is computed (:func:`check_outputs`).

>>> import io
>>> out = io.StringIO()
>>> with RecordWriter([CSVSink(out, preamble=["# dps: 5"])], total=2) as writer:
...     writer.add({"x": 1, "name": "poly:1,0.5"})
...     writer.add({"x": 2, "name": "tanh"})
>>> print(out.getvalue(), end="")
# dps: 5
x,name
1,"poly:1,0.5"
2,tanh
"""

import contextlib
import csv
import io
import json
import os
import signal
import sys
import tempfile
import threading

import mpmath

from .exceptions import PencilsError
from .values import full_string

__all__ = ["OutputError", "Terminated", "check_outputs", "critical", "as_text", "csv_line", "CSVSink",
           "DocumentSink", "json_document", "RecordWriter", "interruption"]


class OutputError(PencilsError, OSError):
    """An output path cannot be written, or two outputs name the same file."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that writers finish cleanly (see :func:`pencils.cli.main`)."""


def interruption(exc):
    """``"interrupted (SIGINT)"`` or ``"terminated (SIGTERM)"`` for a :class:`KeyboardInterrupt`."""
    return "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted (SIGINT)"


@contextlib.contextmanager
def critical():
    """Hold SIGINT and SIGTERM back while the block runs (main thread only), then deliver them."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []

    def hold(signum, frame):
        received.append(signum)

    previous = {}
    try:
        for s in (signal.SIGINT, signal.SIGTERM):
            previous[s] = signal.signal(s, hold)
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, signal.SIG_DFL if handler is None else handler)
        for s in dict.fromkeys(received):
            signal.raise_signal(s)


def check_outputs(paths):
    """Check output files before computing: ``paths`` maps an option (``"--csv"``) to a path or None.

    Raises :class:`OutputError` when two options name the same file, a path is a
    directory, its directory does not exist, or a file cannot be created there.
    """
    seen = {}
    for option, path in paths.items():
        if path is None:
            continue
        path = os.fspath(path)
        key = os.path.realpath(path)
        if key in seen:
            raise OutputError(f"{seen[key]} and {option} both name {path!r}: give two different files")
        seen[key] = option
        if os.path.isdir(path):
            raise OutputError(f"{option} {path!r} is a directory, not a file")
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise OutputError(f"{option} {path!r}: the directory {folder!r} does not exist")
        try:
            handle, probe = tempfile.mkstemp(dir=folder, prefix=".pencils-probe-")
            os.close(handle)
            os.unlink(probe)
        except OSError as exc:
            raise OutputError(f"{option} {path!r}: cannot write in {folder!r} ({exc.strerror or exc})") from None
        if os.path.exists(path) and not os.access(path, os.W_OK):
            raise OutputError(f"{option} {path!r}: the file is not writable")


def as_text(record, dps=None):
    """A record with every value as a string (mpmath numbers with all digits of the record's ``dps``)."""
    digits = record.get("dps", dps) if isinstance(record, dict) else dps
    out = {}
    for key, value in record.items():
        if isinstance(value, mpmath.mpf | mpmath.mpc):
            out[key] = full_string(value, digits if isinstance(digits, int) else None)
        elif value is None:
            out[key] = ""
        else:
            out[key] = str(value)
    return out


def csv_line(values):
    """One CSV line (with its newline), quoted as needed."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


def _columns(records, preferred=()):
    columns = [c for c in preferred if any(c in r for r in records)]
    for r in records:
        columns += [k for k in r if k not in columns]
    return columns


def _atomic_write(path, text):
    temporary = f"{path}.tmp"
    with critical():
        with open(temporary, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
        os.replace(temporary, path)


def _flush(stream):
    with critical():
        stream.flush()


class CSVSink:
    """CSV to a path (created at once, then appended and flushed per record) or to a stream.

    ``preamble`` lines (``# key: value``) come first, then the header, then one
    line per record. Columns: ``columns`` first (those present), then any other
    key, in order of appearance. A record with a new column makes a file be
    rewritten with the longer header; on a stream the new column is left out.
    """

    def __init__(self, target, columns=(), preamble=(), dps=None):
        self.target, self.preferred, self.preamble, self.dps = target, list(columns), list(preamble), dps
        self.name = "standard output" if target is sys.stdout else getattr(target, "name", None) or str(target)
        self.columns = None
        self.rows = []
        self.to_file = not hasattr(target, "write")
        if self.to_file:
            with critical():
                self.stream = open(target, "w", encoding="utf-8", newline="")
        else:
            self.stream = target

    def _head(self):
        return "".join(line.rstrip("\n") + "\n" for line in self.preamble) + csv_line(self.columns)

    def add(self, record):
        row = as_text(record, self.dps)
        self.rows.append(row)
        if self.columns is None:
            self.columns = _columns([row], self.preferred)
            text = self._head()
        elif any(k not in self.columns for k in row) and self.to_file:
            self.columns = _columns(self.rows, self.preferred)
            self.stream.close()
            _atomic_write(self.target, self._head() + "".join(csv_line([r.get(c, "") for c in self.columns])
                                                              for r in self.rows))
            self.stream = open(self.target, "a", encoding="utf-8", newline="")
            return
        else:
            text = ""
        with critical():
            self.stream.write(text + csv_line([row.get(c, "") for c in self.columns]))
            self.stream.flush()

    def close(self):
        if self.to_file:
            self.stream.close()
        else:
            _flush(self.stream)


class DocumentSink:
    """A whole document rendered from all records so far: ``render(records) -> str``.

    To a path: atomically replaced after every record. To a stream: written
    once, when the writer closes (after success, an error or an interruption).
    """

    def __init__(self, target, render):
        self.target, self.render = target, render
        self.name = "standard output" if target is sys.stdout else getattr(target, "name", None) or str(target)
        self.to_file = not hasattr(target, "write")
        self.records = []

    def add(self, record):
        self.records.append(record)
        if self.to_file:
            _atomic_write(self.target, self.render(self.records))

    def close(self):
        if not self.to_file and self.records:
            with critical():
                self.target.write(self.render(self.records))
                self.target.flush()


def json_document(columns=(), provenance=None, dps=None):
    """A ``render`` for :class:`DocumentSink`: a JSON list of records, or ``{"provenance", "rows"}``."""

    def render(records):
        rows = [as_text(r, dps) for r in records]
        order = _columns(rows, columns)
        rows = [{c: r[c] for c in order if c in r} for r in rows]
        data = rows if provenance is None else {"provenance": provenance, "rows": rows}
        return json.dumps(data, indent=1, ensure_ascii=False) + "\n"

    return render


class RecordWriter:
    """Hands each record to every sink as it comes; a context manager.

    Parameters
    ----------
    sinks : list of CSVSink or DocumentSink
    total : int, optional
        How many records are expected (for the message on failure).
    unit : str
        What a record is, in that message (``"points"``).
    progress : bool or str
        Show a progress bar (tqdm) on standard error; a string is its label.

    On leaving the block with an exception, sinks are closed (a stream
    document is written with the records so far) and the note
    ``wrote K of N points to FILES before: REASON`` is added to the exception.
    """

    def __init__(self, sinks, total=None, unit="points", progress=False):
        self.sinks = list(sinks)
        self.total, self.unit = total, unit
        self.count = 0
        self.bar = None
        if progress:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=progress if isinstance(progress, str) else None, unit="pt",
                            file=sys.stderr, leave=False)

    def add(self, record):
        """Write one record to every sink (flushed or atomically replaced)."""
        with critical():  # a signal arriving now is delivered once the record is counted
            for sink in self.sinks:
                sink.add(record)
            self.count += 1
        if self.bar is not None:
            self.bar.update()

    def where(self):
        return ", ".join(sink.name for sink in self.sinks)

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, traceback):
        if self.bar is not None:
            self.bar.close()
        errors = []
        for sink in self.sinks:
            try:
                sink.close()
            except OSError as error:  # e.g. a broken pipe: report the original exception, not this one
                errors.append(error)
        if exc is not None and self.sinks and hasattr(exc, "add_note"):
            if isinstance(exc, KeyboardInterrupt):
                reason = interruption(exc)
            else:
                reason = (str(exc).splitlines() or [type(exc).__name__])[0]
            of = f" of {self.total}" if self.total is not None else ""
            exc.add_note(f"wrote {self.count}{of} {self.unit} to {self.where()} before: {reason}")
        if exc is None and errors:
            raise errors[0]
        return False
