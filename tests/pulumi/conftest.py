"""Pulumi stacks under mocks (no Pulumi CLI, no cloud): every resource the program creates
is recorded with its inputs, and the tests read them back."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

import pulumi

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "pulumi")]
sys.path.append(str(ROOT / "tests" / "unit"))  # golden.py: the golden-file comparison tests/unit uses
GOLDEN = ROOT / "tests" / "golden" / "pulumi"
UPDATE_GOLDEN = os.environ.get("JINBAO_UPDATE_GOLDEN") == "1"  # read by golden.compare_text


class Recorder(pulumi.runtime.Mocks):
    def __init__(self):
        self.resources: list[dict] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        outputs = dict(args.inputs)
        if args.typ == "openstack:networking/floatingIp:FloatingIp":
            outputs["address"] = f"198.51.100.{len(self.resources) % 250 + 1}"  # documentation range
        self.resources.append({"type": args.typ, "name": args.name, "inputs": dict(args.inputs)})
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}

    def of(self, typ: str) -> list[dict]:
        return [r for r in self.resources if r["type"] == typ]


@pytest.fixture
def recorder():
    mocks = Recorder()
    pulumi.runtime.set_mocks(mocks, project="jinbao-dc", stack="test", preview=False)
    return mocks
