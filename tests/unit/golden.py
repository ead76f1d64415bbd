"""Golden-file comparison with a readable diff; JINBAO_UPDATE_GOLDEN=1 rewrites the expectations."""

from __future__ import annotations

import difflib
from pathlib import Path

from conftest import UPDATE_GOLDEN


def compare_text(actual: str, expected_path: Path) -> None:
    if UPDATE_GOLDEN:
        expected_path.parent.mkdir(parents=True, exist_ok=True)
        expected_path.write_text(actual)
        return
    assert expected_path.exists(), f"{expected_path} is missing; run with JINBAO_UPDATE_GOLDEN=1 to create it"
    expected = expected_path.read_text()
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                fromfile=f"expected {expected_path.name}",
                tofile="rendered",
            )
        )
        raise AssertionError(f"{expected_path} differs:\n{diff}")


def compare_tree(actual_dir: Path, expected_dir: Path) -> None:
    """Same files, same contents (dotfiles such as the render manifest excluded)."""
    actual = {p.name for p in actual_dir.iterdir() if not p.name.startswith(".")}
    if UPDATE_GOLDEN:
        if expected_dir.exists():
            for stale in expected_dir.iterdir():
                if stale.name not in actual:
                    stale.unlink()
    else:
        expected = {p.name for p in expected_dir.iterdir()} if expected_dir.exists() else set()
        assert actual == expected, (
            f"files differ: extra {sorted(actual - expected)}, missing {sorted(expected - actual)}"
        )
    for name in sorted(actual):
        compare_text((actual_dir / name).read_text(), expected_dir / name)
