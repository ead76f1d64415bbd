"""Re-validation by changed sites gives the same model as a full parse, and steps aside for errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from network.errors import ModelError
from network.model import chunks, load

NEW = """  - id: xinzhen
    slug: xinzhen
    name: 新镇
    tier: township
    parent: yiwu
    uplinks: [{carrier: ct, type: mstp, bandwidth: 10M}]
"""


def test_split_keeps_every_item_and_its_comments() -> None:
    assert chunks.split("sites:\n  - {id: a}\nother_key: 1\n") is None, "a top-level key after the list"
    head, items = chunks.split("sites:\n- {id: a}\n  # about b\n- id: b\n  slug: b\n")
    assert head == "sites:\n" and items == ["- {id: a}\n  # about b\n", "- id: b\n  slug: b\n"]


def test_adding_a_site_reuses_the_others_and_equals_a_full_parse(lab: Path) -> None:
    load(lab)  # validates in full and remembers the items
    (lab / "sites.yml").write_text((lab / "sites.yml").read_text() + NEW)
    memo = chunks.load_memo(lab / ".cache", "sites.yml")
    quick = chunks.validate_changed(
        (lab / "sites.yml").read_text(), memo, lambda raw, defaults: {**defaults.get(raw.get("tier"), {}), **raw}
    )
    assert quick is not None
    assert len(quick[2]) == len(memo["sites"]) + 1
    assert load(lab).sites == load(lab, cache=False).sites


def test_an_error_in_the_new_site_is_reported_as_by_a_full_parse(lab: Path) -> None:
    load(lab)
    (lab / "sites.yml").write_text((lab / "sites.yml").read_text() + NEW.replace("10M", "10 furlongs"))
    with pytest.raises(ModelError, match=r"sites.yml: zhejiang/jinhua/yiwu/xinzhen: uplinks\[0\].bandwidth bandwidth"):
        load(lab)


def test_changed_defaults_re_parse_everything(lab: Path) -> None:
    load(lab)
    text = (
        (lab / "sites.yml")
        .read_text()
        .replace(
            "township: {devices: [{name: r1, role: access, platform: frr}]}",
            "township: {devices: [{name: r1, role: access, platform: huawei_vrp}]}",
        )
    )
    (lab / "sites.yml").write_text(text)
    assert load(lab).sites["fotang"].devices[0].platform == "huawei_vrp"
