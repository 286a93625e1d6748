"""On-disk store of computed constants: one small JSON file per key, several precisions per file.

The Gaussian-equivalence constants (:mod:`derivations.dsm.equivalence`) are
python-flint ``arb`` balls that take up to a second to compute; this module
keeps them between processes. It knows nothing about what the balls mean: a
*key* is a JSON-able dict saying what was computed (the caller puts in it
everything the values depend on), a *record* is ``{"balls": {name: arb},
"fields": {name: str | int | bool}}``, and a file holds the records of one key
at every precision (``dps``) stored so far.

Location
--------
:func:`directory`: the environment variable ``PENCILS_CACHE_DIR`` if set
(``off`` disables the disk cache), else the user cache directory,
``$XDG_CACHE_HOME/pencils`` or ``~/.cache/pencils`` on Linux,
``~/Library/Caches/pencils`` on macOS, ``%LOCALAPPDATA%\\pencils\\Cache`` on
Windows. Files go to its subfolder ``dsm-constants``, named by the SHA-256 of
the key.

Format
------
``{"key": ..., "levels": {"<dps>": {"balls": ..., "fields": ...}},
"sha256": ...}``. A ball is ``[mid mantissa, mid exponent, radius mantissa,
radius exponent]`` in hexadecimal strings: the midpoint and the radius are
stored exactly (no decimal rounding), so a ball read back is bit for bit the
ball written and still encloses what it enclosed. ``sha256`` is the digest of
the canonical JSON text of ``key`` and ``levels``.

Safety
------
Files are read with :func:`json.loads` only, never evaluated. A file that
cannot be read, fails the digest, holds another key or breaks the format is
treated as absent (the caller recomputes and overwrites it): damage to a
file costs a recomputation, never an error or a wrong ball. (The digest
detects damage, not a deliberate edit that recomputes it: the folder must be
as trusted as the code.) Writes go to a
temporary file in the same folder, then :func:`os.replace`, so a reader sees
the old file or the new one, never half of one; a folder that cannot be
written gives one :class:`RuntimeWarning` and the computation goes on.

Examples
--------
>>> import tempfile
>>> from flint import arb
>>> key = {"what": "pi"}
>>> with tempfile.TemporaryDirectory() as name:
...     store(key, 30, {"balls": {"pi": arb.pi()}, "fields": {"note": "flint"}}, Path(name))
...     levels = load(key, Path(name))
>>> sorted(levels), levels[30]["fields"]
([30], {'note': 'flint'})
>>> ball = levels[30]["balls"]["pi"]
>>> (ball.mid().man_exp(), ball.rad().man_exp()) == (arb.pi().mid().man_exp(), arb.pi().rad().man_exp())
True
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import warnings
from pathlib import Path

from flint import arb, fmpz

__all__ = ["ENVIRONMENT", "FORMAT", "directory", "load", "store", "storable"]

#: Environment variable naming the cache folder (``off``: no disk cache).
ENVIRONMENT = "PENCILS_CACHE_DIR"
#: Version of the file format; part of every key, so a new format never reads an old file.
FORMAT = 1
_SUBFOLDER = "dsm-constants"
_warned: set = set()


def directory(environ=None) -> Path | None:
    """The cache folder, or None when the disk cache is off.

    Parameters
    ----------
    environ : mapping, optional
        The environment to read (default ``os.environ``, read at each call).
        Nothing is created here.

    Examples
    --------
    >>> directory({"PENCILS_CACHE_DIR": "off"}) is None
    True
    >>> directory({"PENCILS_CACHE_DIR": "/scratch/c"}).as_posix()
    '/scratch/c'
    >>> folder = directory({"XDG_CACHE_HOME": "/var/cache/me"})
    >>> folder.as_posix() == "/var/cache/me/pencils" if sys.platform == "linux" else True
    True
    """
    environ = os.environ if environ is None else environ
    value = environ.get(ENVIRONMENT, "").strip()
    if value.lower() == "off":
        return None
    if value:
        return Path(value).expanduser()
    home = Path.home()
    if sys.platform == "win32":
        return Path(environ.get("LOCALAPPDATA") or home / "AppData" / "Local") / "pencils" / "Cache"
    if sys.platform == "darwin":
        return home / "Library" / "Caches" / "pencils"
    xdg = environ.get("XDG_CACHE_HOME", "")
    return (Path(xdg) if os.path.isabs(xdg) else home / ".cache") / "pencils"


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _path(key: dict, root: Path) -> Path:
    digest = hashlib.sha256(_canonical({"format": FORMAT, "key": key}).encode()).hexdigest()
    return root / _SUBFOLDER / (digest + ".json")


def storable(x: arb) -> arb:
    """``x`` with its radius rounded up to what a file reproduces exactly.

    arb keeps 30 bits of a radius but builds a ball from a given radius with
    at most 29 exactly (python-flint 0.9 rounds a full 30-bit one up by one
    unit; every read and write checks the round trip); this is that
    rounding, done once. The midpoint is unchanged, the radius
    grows by at most 2^-29 of itself, so ``storable(x)`` contains ``x``;
    ``storable(storable(x))`` is ``storable(x)`` bit for bit. Only such
    balls can be stored (:func:`store`).

    Examples
    --------
    >>> from flint import ctx
    >>> with ctx.workprec(195):
    ...     x = (-arb(1) / 10).exp()
    >>> x.rad().man_exp(), storable(x).rad().man_exp()
    ((599690677, -224), (299845339, -223))
    >>> storable(storable(x)).rad().man_exp()
    (299845339, -223)
    """
    return arb(x.mid().man_exp(), x.rad().man_exp())


def _encode_ball(x: arb) -> list:
    mid_man, mid_exp = x.mid().man_exp()
    rad_man, rad_exp = x.rad().man_exp()
    parts = [format(int(v), "x") for v in (mid_man, mid_exp, rad_man, rad_exp)]
    try:
        _decode_ball(parts)
    except ValueError:
        raise ValueError("ball %s would not come back bit for bit: pass it through storable() first" % x) from None
    return parts


def _decode_ball(parts) -> arb:
    """The ball of four hexadecimal strings; ValueError unless they are the exact form of that ball."""
    if not (isinstance(parts, list) and len(parts) == 4 and all(isinstance(p, str) for p in parts)):
        raise ValueError("a ball is four hexadecimal strings")
    mid_man, mid_exp, rad_man, rad_exp = (int(p, 16) for p in parts)
    if rad_man < 0:
        raise ValueError("negative radius")
    ball = arb((fmpz(mid_man), fmpz(mid_exp)), (fmpz(rad_man), fmpz(rad_exp)))
    if (ball.mid().man_exp(), ball.rad().man_exp()) != ((mid_man, mid_exp), (rad_man, rad_exp)):
        raise ValueError("not the exact form of a ball")
    return ball


def _encode(record: dict) -> dict:
    fields = record["fields"]
    if not all(isinstance(v, (str, int, bool)) for v in fields.values()):
        raise TypeError("record fields must be str, int or bool")
    return {"balls": {k: _encode_ball(v) for k, v in record["balls"].items()}, "fields": dict(fields)}


def _decode(level) -> dict:
    balls, fields = level["balls"], level["fields"]
    if not (isinstance(balls, dict) and isinstance(fields, dict)):
        raise ValueError("malformed level")
    if not all(isinstance(v, (str, int, bool)) for v in fields.values()):
        raise ValueError("malformed field")
    return {"balls": {k: _decode_ball(v) for k, v in balls.items()}, "fields": fields}


def _dps(text: str) -> int:
    if not (text.isascii() and text.isdigit() and text == str(int(text)) and int(text) > 0):
        raise ValueError("malformed precision %r" % text)
    return int(text)


def _read(path: Path, key: dict) -> dict:
    """The encoded levels of ``key`` in ``path``; {} if the file is absent or not a valid file of ``key``."""
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
        levels = content["levels"]
        body = {"key": content["key"], "levels": levels}
        if content["sha256"] != hashlib.sha256(_canonical(body).encode()).hexdigest():
            return {}
        if content["key"] != json.loads(_canonical(key)) or not isinstance(levels, dict):
            return {}
        for text in levels:
            _dps(text)
        return dict(levels)
    except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return {}


def load(key: dict, root: Path | None) -> dict:
    """Every record stored for ``key`` under ``root``, as ``{dps: record}``.

    Parameters
    ----------
    key : dict
        What was computed (JSON-able; compared exactly with the stored key).
    root : Path or None
        The cache folder (:func:`directory`); None gives ``{}``.

    Returns
    -------
    dict
        ``{dps: {"balls": {name: arb}, "fields": {...}}}``; ``{}`` when there
        is no file or it is unreadable or corrupt. A single malformed level is
        left out.
    """
    if root is None:
        return {}
    records = {}
    for text, level in _read(_path(key, root), key).items():
        try:
            records[int(text)] = _decode(level)
        except (ValueError, TypeError, KeyError, AttributeError):
            continue
    return records


def store(key: dict, dps: int, record: dict, root: Path | None) -> None:
    """Add (or replace) the record of ``key`` at precision ``dps`` in its file under ``root``.

    The file is read again first, so that the levels another process wrote
    meanwhile are kept, then replaced atomically. ``root`` None does nothing;
    a folder that cannot be written warns once per folder and does nothing.
    """
    if root is None:
        return
    path = _path(key, root)
    levels = _read(path, key)
    levels[str(dps)] = _encode(record)
    body = {"key": key, "levels": levels}
    text = _canonical({**body, "sha256": hashlib.sha256(_canonical(body).encode()).hexdigest()})
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(text)
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError as exc:
        if root not in _warned:
            _warned.add(root)
            warnings.warn(
                "constants cache: cannot write to %s (%s); going on without it (set %s=off to silence)"
                % (root, exc, ENVIRONMENT),
                RuntimeWarning,
                stacklevel=3,
            )
