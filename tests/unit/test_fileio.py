"""Concurrent writers of one path: each write lands whole, none trips over another's temporary."""

from __future__ import annotations

import multiprocessing as mp
import os
import stat

from network.fileio import write_atomic, write_cache
from network.model import chunks


def _hammer(args) -> str:
    path, tag = args
    try:
        for i in range(300):
            write_atomic(path, (tag * 4096 + str(i)).encode())
    except Exception as exc:  # reported to the parent: a worker's exception is the failure under test
        return f"{type(exc).__name__}: {exc}"
    return ""


def test_parallel_writers_of_one_path_never_clash(tmp_path):
    path = tmp_path / "memo.pickle"
    with mp.get_context("fork").Pool(4) as pool:
        errors = pool.map(_hammer, [(path, tag) for tag in "abcd"])
    assert errors == ["", "", "", ""]
    text = path.read_text()
    assert len(text) == 4096 + 3 and text[:4096] == text[0] * 4096  # one writer's file, whole
    assert [p.name for p in tmp_path.iterdir()] == ["memo.pickle"]  # no temporaries left behind


def test_memo_saved_by_two_processes_at_once(tmp_path):
    """The CI failure: two inventory parses saving the same sites-file memo."""

    def save(n):
        for _ in range(200):
            chunks.save_memo(tmp_path, "sites/zj.yml", "head", {}, [f"chunk{n}"], [None])
        os._exit(0)

    pids = []
    for n in range(3):
        pid = os.fork()
        if pid == 0:
            try:
                save(n)
            finally:
                os._exit(1)
        pids.append(pid)
    codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids]
    assert codes == [0, 0, 0]
    assert chunks.load_memo(tmp_path, "sites/zj.yml")["head"] == "head"


def test_mode_is_the_one_asked_for(tmp_path):
    write_atomic(tmp_path / "secret.cfg", b"x", mode=0o600)
    write_atomic(tmp_path / "public.yml", b"x")
    assert stat.S_IMODE((tmp_path / "secret.cfg").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "public.yml").stat().st_mode) == 0o644


def test_a_cache_that_cannot_be_written_is_only_a_miss(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    assert write_cache(tmp_path / "file" / "cache.pickle", b"data") is False
    assert write_cache(tmp_path / "ok" / "cache.pickle", b"data") is True
