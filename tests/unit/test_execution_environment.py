"""execution-environment.yml: `ansible-builder create` writes a build context that installs
the network package and its pinned Ansible from a Debian/Python base (the image is not built)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from conftest import REPO

BUILDER = Path(sys.executable).parent / "ansible-builder"  # a dev extra (pyproject.toml)


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("ee") / "context"
    command = [str(BUILDER), "create", "-f", "execution-environment.yml", "-c", str(target)]
    done = subprocess.run([*command, "--output-filename", "Containerfile"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return target


def pins() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pinned = (re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[.*\])?==(\S+)", d) for d in project["dependencies"])
    return {match[1]: match[2] for match in pinned if match}


def test_the_containerfile_starts_from_a_debian_python_image_named_by_a_build_argument(context: Path) -> None:
    text = (context / "Containerfile").read_text()
    assert re.search(r'^ARG EE_BASE_IMAGE="[^"]*python:3\.11-slim-bookworm"$', text, re.M)
    assert "FROM $EE_BASE_IMAGE AS base" in text
    assert 'ARG PKGMGR="/usr/bin/apt-get"' in text and 'ARG PYCMD="/usr/local/bin/python3"' in text
    # Ansible as pyproject.toml pins it, and the runner AWX drives it with
    assert f"ansible-core=={pins()['ansible-core']}" in re.search(r'^ARG ANSIBLE_INSTALL_REFS="(.*)"$', text, re.M)[1]
    # the mirrors an air-gapped build passes, before the first download
    first_install = text.index("pip_install")
    assert -1 < text.index("ARG PIP_INDEX_URL") < first_install and text.index("ARG DEBIAN_MIRROR") < first_install
    # the package is installed in the final image and answers
    final = text[text.index("AS final") :]
    assert "COPY _build/jinbao /build/jinbao" in final and "install-from-bindep" in final and "jinbao --help" in final


def test_the_context_holds_the_package_and_its_requirements(context: Path) -> None:
    build = context / "_build"
    requirements = [r for r in (build / "requirements.txt").read_text().splitlines() if r and not r.startswith("#")]
    assert requirements == ["jinbao-net @ file:///build/jinbao"]
    assert (build / "jinbao/pyproject.toml").read_bytes() == (REPO / "pyproject.toml").read_bytes()
    for module in ("network/__init__.py", "network/cli/__init__.py", "network/model/load.py"):
        assert (build / "jinbao" / module).is_file(), module
    assert sorted(p.name for p in (build / "jinbao/network/templates").iterdir()) == sorted(
        p.name for p in (REPO / "network/templates").iterdir() if not p.name.startswith(".")
    )
    bindep = (build / "bindep.txt").read_text()
    assert re.search(r"^openssh-client \[platform:dpkg\]$", bindep, re.M)
    # no galaxy step: the collections come with the pinned `ansible` package
    assert not (build / "requirements.yml").exists()
    definition = yaml.safe_load((REPO / "execution-environment.yml").read_text())
    assert definition["version"] == 3 and "galaxy" not in definition["dependencies"]
    assert "ansible" in pins()
