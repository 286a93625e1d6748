"""The cache of the Gaussian-equivalence constants: in the process and on disk.

Every test runs with ``PENCILS_CACHE_DIR`` in its own temporary folder and an
empty in-process cache (fixture ``folder``); "a new process" is simulated by
emptying the in-process cache again.
"""

import json
import os
import random
import warnings
from fractions import Fraction
from pathlib import Path

import pytest
from flint import arb, ctx, fmpz
from mpmath import mp

from derivations.dsm import cache, equivalence
from derivations.dsm.activations import Activation
from derivations.dsm.equivalence import EquivalenceError, gaussian_equivalence


@pytest.fixture(autouse=True)
def folder(tmp_path, monkeypatch):
    """A temporary cache folder and an empty in-process cache."""
    monkeypatch.setenv(cache.ENVIRONMENT, str(tmp_path / "cache"))
    monkeypatch.setattr(equivalence, "_MEMORY", {})
    return tmp_path / "cache"


@pytest.fixture
def computed(monkeypatch):
    """The precisions at which the constants are computed (not taken from a cache)."""
    calls = []
    original = equivalence._compute

    def spy(act, t, psi_d, dps):
        calls.append(dps)
        return original(act, t, psi_d, dps)

    monkeypatch.setattr(equivalence, "_compute", spy)
    return calls


def new_process(monkeypatch):
    monkeypatch.setattr(equivalence, "_MEMORY", {})


def files(folder):
    """Every file of the cache folder, temporary ones included."""
    return sorted((folder / "dsm-constants").iterdir()) if (folder / "dsm-constants").exists() else []


def _rewrite(path, content):
    """Write ``content`` with a valid digest: well-formed, but not what was stored."""
    body = {"key": content["key"], "levels": content["levels"]}
    content["sha256"] = cache.hashlib.sha256(cache._canonical(body).encode()).hexdigest()
    path.write_text(json.dumps(content))


def bits(result):
    """Everything a result holds, balls as exact (midpoint, radius) pairs."""
    balls = [(getattr(result, n).mid().man_exp(), getattr(result, n).rad().man_exp()) for n in result.FIELDS]
    other = (result.activation, result.t, result.trace, result.dps, result.prec, result.degenerate,
             result.certified, result.error_kind, result.note, result.error)
    return balls, other


@pytest.mark.parametrize("dps", [30, 60])
@pytest.mark.parametrize(
    "spec, t, psi_d", [("tanh", "0.1", "1"), ("relu", "1/3", "1/2"), ("poly:1,0.5", "2", "1")]
)
def test_cold_and_warm_give_the_same_bits(folder, monkeypatch, computed, spec, t, psi_d, dps):
    cold = gaussian_equivalence(spec, t, psi_d, dps=dps)
    assert computed == [dps] and len(files(folder)) == 1
    assert gaussian_equivalence(spec, t, psi_d, dps=dps) is cold  # in the process
    new_process(monkeypatch)
    warm = gaussian_equivalence(spec, t, psi_d, dps=dps)  # from disk
    assert computed == [dps] and warm is not cold
    for path in files(folder):
        path.unlink()
    assert gaussian_equivalence(spec, t, psi_d, dps=dps) is warm  # read once, then kept in the process
    assert bits(warm) == bits(cold) == bits(gaussian_equivalence(spec, t, psi_d, dps=dps, cache=False))


def test_another_precision_never_serves(folder, monkeypatch, computed):
    # a result must not depend on what the cache held: dps 30 after dps 60 is computed, and is bit for
    # bit what a cold computation gives
    gaussian_equivalence("tanh", "0.1", dps=60)
    new_process(monkeypatch)
    served = gaussian_equivalence("tanh", "0.1", dps=30)
    assert computed == [60, 30]
    assert bits(served) == bits(gaussian_equivalence("tanh", "0.1", dps=30, cache=False))


def test_a_lower_precision_never_serves_a_higher_one(folder, monkeypatch, computed):
    gaussian_equivalence("tanh", "0.1", dps=30)
    new_process(monkeypatch)
    result = gaussian_equivalence("tanh", "0.1", dps=60)
    assert computed == [30, 60]
    assert result.dps == 60 and result.error <= 1e-63
    assert bits(result) == bits(gaussian_equivalence("tanh", "0.1", dps=60, cache=False))
    [path] = files(folder)
    assert sorted(json.loads(path.read_text())["levels"]) == ["30", "60"]


def _corrupt(path, how):
    text = path.read_text()
    if how == "empty":
        path.write_text("")
    elif how == "truncated":
        path.write_text(text[: len(text) // 2])
    elif how == "binary":
        path.write_bytes(os.urandom(300))
    elif how == "one digit":  # the digest no longer matches
        i = text.index('"kappa":["') + 10
        path.write_text(text[:i] + ("1" if text[i] != "1" else "2") + text[i + 1:])
    elif how == "code":  # a program instead of data: never run
        path.write_text("__import__('os').system('touch %s')" % (path.parent / "ran"))
    elif how == "wide radius":  # well-formed, digest recomputed, but a radius above the contract
        content = json.loads(text)
        for level in content["levels"].values():
            level["balls"]["kappa"][3] = "0"
        _rewrite(path, content)
    elif how == "not exact":  # a radius arb cannot rebuild exactly (30 significant bits)
        content = json.loads(text)
        for level in content["levels"].values():
            level["balls"]["kappa"][2] = format(2**30 - 1, "x")
        _rewrite(path, content)
    elif how == "other key":  # the file of another t under this name
        content = json.loads(text)
        content["key"]["t"] = "1/5"
        _rewrite(path, content)
    elif how == "directory":
        path.unlink()
        path.mkdir()


@pytest.mark.parametrize(
    "how", ["empty", "truncated", "binary", "one digit", "code", "wide radius", "not exact", "other key"]
)
def test_a_corrupt_file_is_recomputed_and_replaced(folder, monkeypatch, computed, how):
    cold = gaussian_equivalence("tanh", "0.1", dps=30)
    [path] = files(folder)
    _corrupt(path, how)
    new_process(monkeypatch)
    again = gaussian_equivalence("tanh", "0.1", dps=30)
    assert computed == [30, 30]
    assert bits(again) == bits(cold)
    assert not (folder / "dsm-constants" / "ran").exists()
    new_process(monkeypatch)  # the file was replaced by a good one
    assert bits(gaussian_equivalence("tanh", "0.1", dps=30)) == bits(cold) and computed == [30, 30]


def test_an_unwritable_folder_warns_once_and_computes(folder, monkeypatch, computed):
    folder.parent.mkdir(exist_ok=True)
    folder.write_text("a file, not a folder")
    monkeypatch.setattr(cache, "_warned", set())
    with pytest.warns(RuntimeWarning, match="cannot write"):
        result = gaussian_equivalence("erf", "0.1", dps=30)
    assert bits(result) == bits(gaussian_equivalence("erf", "0.1", dps=30, cache=False))
    new_process(monkeypatch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gaussian_equivalence("erf", "0.2", dps=30)
    assert computed == [30, 30, 30] and not caught  # one warning per folder


def test_a_file_in_the_way_is_ignored(folder, monkeypatch, computed):
    gaussian_equivalence("tanh", "0.1", dps=30)
    [path] = files(folder)
    _corrupt(path, "directory")
    new_process(monkeypatch)
    monkeypatch.setattr(cache, "_warned", set())
    with pytest.warns(RuntimeWarning, match="cannot write"):
        gaussian_equivalence("tanh", "0.1", dps=30)
    assert computed == [30, 30]


def test_off_keeps_the_disk_out_and_cache_false_computes(folder, monkeypatch, computed):
    monkeypatch.setenv(cache.ENVIRONMENT, "off")
    first = gaussian_equivalence("tanh", "0.1", dps=30)
    assert gaussian_equivalence("tanh", "0.1", dps=30) is first  # the process still keeps it
    assert not folder.exists() and computed == [30]
    monkeypatch.setenv(cache.ENVIRONMENT, str(folder))
    again = gaussian_equivalence("tanh", "0.1", dps=30, cache=False)
    assert computed == [30, 30] and not folder.exists() and again is not first
    with pytest.raises(EquivalenceError, match="cache"):
        gaussian_equivalence("tanh", "0.1", dps=30, cache="off")


def test_the_key_holds_what_the_constants_depend_on(folder, monkeypatch, computed):
    gaussian_equivalence("erf", "0.1", dps=30)
    for t in (0.1, Fraction(1, 10), "1e-1", " 0.10"):  # the same exact t: one file
        gaussian_equivalence("erf", t, dps=30)
    new_process(monkeypatch)
    gaussian_equivalence("erf", Fraction(1, 10), data=1.0, dps=30)
    assert len(files(folder)) == 1 and computed == [30]
    for args in (("erf", "0.1000000000000000000000001"), ("erf", "0.1", "0.5"), ("tanh", "0.1"),
                 ("relu", "0.1"), ("poly:1,0.5", "0.1"), ("poly:1,0.25", "0.1")):
        gaussian_equivalence(*args, dps=30)
    assert len(files(folder)) == 7 and len(computed) == 7
    # an edit of the code, or another python-flint, is another key
    new_process(monkeypatch)
    monkeypatch.setattr(equivalence, "_CODE", "0" * 64)
    gaussian_equivalence("erf", "0.1", dps=30)
    new_process(monkeypatch)
    monkeypatch.setattr(equivalence.flint, "__version__", "0.0.0")
    gaussian_equivalence("erf", "0.1", dps=30)
    assert len(files(folder)) == 9 and len(computed) == 9


def test_relu_and_relu_centred_share_an_entry(folder, computed):
    assert bits(gaussian_equivalence("relu", 1, dps=30)) == bits(gaussian_equivalence("relu_centred", 1, dps=30))
    assert computed == [30]


def _user_erf():
    return Activation.from_callable(
        lambda x: mp.erf(x), name="user_erf", odd=True,
        gaussian_mean=lambda m, sigma: mp.erf(m / mp.sqrt(1 + 2 * sigma * sigma)),
    )


def test_a_user_function_is_kept_in_the_process_only(folder, computed):
    user = _user_erf()
    first = gaussian_equivalence(user, "0.5", dps=20)
    assert gaussian_equivalence(user, "0.5", dps=20) is first
    assert computed == [20] and not folder.exists()
    gaussian_equivalence(_user_erf(), "0.5", dps=20)  # another object, maybe another function
    assert computed == [20, 20]
    lower = gaussian_equivalence(user, "0.5", dps=15)  # computed: another precision never serves
    assert computed == [20, 20, 15] and (lower.dps, lower.certified, lower.error_kind) == (15, False, "estimate")


def test_the_file_is_exact_json(folder):
    result = gaussian_equivalence("tanh", "0.1", dps=30)
    gaussian_equivalence("tanh", "0.1", dps=40)
    [path] = files(folder)  # no temporary file left behind
    content = json.loads(path.read_text())
    assert set(content) == {"key", "levels", "sha256"} and sorted(content["levels"]) == ["30", "40"]
    assert content["key"]["t"] == "1/10" and content["key"]["activation"]["family"] == "tanh"
    mid_man, mid_exp, rad_man, rad_exp = content["levels"]["30"]["balls"]["kappa"]
    ball = arb((fmpz(int(mid_man, 16)), fmpz(int(mid_exp, 16))), (fmpz(int(rad_man, 16)), fmpz(int(rad_exp, 16))))
    kappa = result.kappa
    assert (ball.mid().man_exp(), ball.rad().man_exp()) == (kappa.mid().man_exp(), kappa.rad().man_exp())


def test_stored_balls_come_back_bit_for_bit(folder):
    rng = random.Random(3)
    balls = {}
    for i in range(300):
        with ctx.workprec(rng.choice([53, 128, 400, 3000])):
            x = arb(rng.randrange(1, 10**9)) / rng.randrange(1, 10**9) * rng.choice([1, -1])
            balls[str(i)] = cache.storable([x.exp(), x.sin(), x.sqrt() if x > 0 else x, x][i % 4])
    balls["zero"], balls["exact"] = arb(0), arb("0.5")
    key = {"what": "random balls"}
    cache.store(key, 30, {"balls": balls, "fields": {"n": 300}}, folder)
    back = cache.load(key, folder)[30]
    assert back["fields"] == {"n": 300}
    for name, x in balls.items():
        y = back["balls"][name]
        assert (y.mid().man_exp(), y.rad().man_exp()) == (x.mid().man_exp(), x.rad().man_exp()), name
    with pytest.raises(ValueError, match="bit for bit"):
        with ctx.workprec(195):
            cache.store(key, 40, {"balls": {"x": (-arb(1) / 10).exp()}, "fields": {}}, folder)


def test_the_default_folder():
    assert cache.directory({"PENCILS_CACHE_DIR": "off"}) is None
    assert cache.directory({"PENCILS_CACHE_DIR": " OFF "}) is None
    assert cache.directory({"PENCILS_CACHE_DIR": "~/c"}) == Path.home() / "c"
    if cache.sys.platform == "linux":
        assert cache.directory({}) == Path.home() / ".cache" / "pencils"
        assert cache.directory({"PENCILS_CACHE_DIR": ""}) == Path.home() / ".cache" / "pencils"
        assert cache.directory({"XDG_CACHE_HOME": "/x/y"}) == Path("/x/y/pencils")
        assert cache.directory({"XDG_CACHE_HOME": "relative"}) == Path.home() / ".cache" / "pencils"


def _writer(folder, key, levels, rounds):
    """A process storing ``levels`` of ``key`` again and again (the workers of a parallel test run)."""
    for _ in range(rounds):
        for dps in levels:
            cache.store(key, dps, {"balls": {"x": arb(dps) / 7}, "fields": {"dps": dps}}, Path(folder))


def test_concurrent_processes_never_see_half_a_file(folder):
    """Four processes write levels of one key while this one reads: once the file exists, every read is whole.

    Writes are atomic (temporary file, then ``os.replace``), so a reader sees the old file or the
    new one (a file written in place would be read half-written, hence as absent); a level another
    process stored meanwhile may be lost (read-modify-replace), which costs a recomputation, never
    a wrong ball.
    """
    import multiprocessing

    key = {"what": "shared by processes"}
    context = multiprocessing.get_context("fork")
    writers = [context.Process(target=_writer, args=(str(folder), key, range(20 + 3 * i, 23 + 3 * i), 15))
               for i in range(4)]
    for w in writers:
        w.start()
    reads, seen = 0, False
    while any(w.is_alive() for w in writers):
        records = cache.load(key, folder)
        assert records or not seen, "the file was read half-written"
        seen = seen or bool(records)
        for dps, record in records.items():
            assert record["fields"] == {"dps": dps}
            x = record["balls"]["x"]
            assert x.mid().man_exp() == (arb(dps) / 7).mid().man_exp()
        reads += 1
    for w in writers:
        w.join()
        assert w.exitcode == 0
    assert reads > 0 and cache.load(key, folder)  # the last file is whole
    assert [p.name for p in files(folder) if p.name.startswith(".")] == []  # no temporary file left
