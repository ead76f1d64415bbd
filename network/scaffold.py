"""`jinbao new`: a new province's environment from the sample, and a new site in sites.yml.

A site goes into its parent's sites file after the last site of the parent's subtree: the
file's own text stays byte for byte (comments, order, layout), the new record is written by
ruamel.yaml in the inventories' style. The edited text is validated by the model
(network.model.load with the text in place of the file) before anything is written, so a bad
parent, a taken id or slug, or a wrong tier is refused with the model's own message naming
file, site and field; then the file is replaced in one rename. stage_site is the part that
writes nothing, for verbs that add a site and do more (onboarding). Addresses are not
touched: `jinbao plan` allocates them. A new environment's files are edited round-trip by
ruamel.yaml, comments kept.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from network import zones
from network.errors import ModelError, Problem
from network.fileio import write_atomic
from network.model import Network, chunks, load
from network.model.sitefiles import site_files

# what `jinbao new province` leaves behind of its template
NOT_COPIED = (".cache", ".lab", ".vault-password", "allocations.yml", "vault.yml")
EXAMPLE_TIERS = ("city", "county", "township")  # the sample's own; `jinbao new <tier>` adds real ones


@dataclass(frozen=True)
class SiteEdit:
    """A site added to a sites file: the file, its new text, and the model validated with it."""

    path: Path
    label: str  # the file as the model names it (sites.yml, sites/<name>.yml)
    text: str
    site_id: str
    network: Network


def site_record(
    tier: str,
    parent: str,
    slug: str,
    name: str,
    *,
    site_id: str | None = None,
    posts: int | None = None,
    uplinks: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """A site as sites.yml writes it (devices come from the file's defaults for the tier)."""
    record: dict[str, Any] = {"id": site_id or slug, "slug": slug, "name": name, "tier": tier, "parent": parent}
    if posts is not None:
        record["posts"] = posts
    if uplinks:
        record["uplinks"] = [dict(u) for u in uplinks]
    return record


def stage_site(env: str | Path, record: dict[str, Any]) -> SiteEdit:
    """The sites file with `record` added, validated by the model; nothing is written.
    Raises ModelError (file, site, field) when the environment would be invalid with it."""
    env = Path(env)
    before = load(env)
    path = _file_for(env, before, record.get("parent"))
    label = str(path.relative_to(env))
    text = _insert(path.read_text(encoding="utf-8"), record, before, label)
    _check_only_added(path.read_text(encoding="utf-8"), text, record, label)
    after = load(env, edited={label: text})
    return SiteEdit(path, label, text, str(record["id"]), after)


def add_site(env: str | Path, record: dict[str, Any]) -> SiteEdit:
    """stage_site, then the file replaced in one rename (its mode kept)."""
    edit = stage_site(env, record)
    write_atomic(edit.path, edit.text.encode(), mode=edit.path.stat().st_mode & 0o777)
    return edit


def _file_for(env: Path, network: Network, parent: object) -> Path:
    """The parent's sites file (an unknown parent: the first file, where the model refuses it)."""
    label = network.site_files.get(parent) if isinstance(parent, str) else None
    return env / label if label else site_files(env)[0]


def _insert(text: str, record: dict[str, Any], network: Network, label: str) -> str:
    """`text` with `record` after the last site of its parent's subtree (else at the end).

    The file is cut into its sites' texts as the model's incremental validation cuts it
    (chunks.split: a site's text runs to the next site, comments and blank lines with it),
    so every byte of the file stays as it was; the record goes right after the previous
    site's own lines, before the comments and blank lines that open the next one."""
    parts = chunks.split(text)
    listed = (yaml.safe_load(text) or {}).get("sites") or []
    if parts is None or len(parts[1]) != len(listed):
        message = "is not laid out as one `sites:` list of sites at one indent; add the site by hand"
        raise ModelError(Problem(label, "", "sites", message))
    head, items = parts
    subtree = _subtree(network, record.get("parent"))
    ids = [site.get("id") if isinstance(site, dict) else None for site in listed]
    at = max((i for i, site_id in enumerate(ids) if site_id in subtree), default=len(items) - 1)
    body, trailing = split_trailing(items[at])
    # sites separated by a blank line (the sample) or not (the lab, where blank lines open sections)
    gaps = [split_trailing(item)[1].startswith("\n") for item in items[:-1]]
    separated = sum(gaps) * 2 > len(gaps)
    indent = len(chunks.ITEM.match(items[at]).group(1))  # type: ignore[union-attr]
    block = ("\n" if separated else "") + _render(record, indent)
    return head + "".join(items[:at]) + body + block + trailing + "".join(items[at + 1 :])


def split_trailing(item: str) -> tuple[str, str]:
    """A site's text: its own lines, and the blank and comment lines after them."""
    lines = item.splitlines(keepends=True)
    end = len(lines)
    while end > 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
        end -= 1
    return "".join(lines[:end]), "".join(lines[end:])


def _render(record: dict[str, Any], indent: int) -> str:
    """The record as one item of the sites list at `indent`, uplinks one flow mapping a line."""
    item = CommentedMap(record)
    if "uplinks" in record:
        lines = CommentedSeq()
        for line in record["uplinks"]:
            flow = CommentedMap(line)
            flow.fa.set_flow_style()
            lines.append(flow)
        item["uplinks"] = lines
    out = io.StringIO()
    _round_trip("").dump([item], out)
    dumped = out.getvalue().splitlines(keepends=True)  # an item at indent 2 (the sequence's offset)
    return "".join(" " * indent + line.removeprefix("  ") if line.strip() else line for line in dumped)


def _subtree(network: Network, parent: object) -> set[str]:
    if not isinstance(parent, str) or parent not in network.sites:
        return set()
    found, todo = set(), [parent]
    while todo:
        site_id = todo.pop()
        found.add(site_id)
        todo += network.children.get(site_id, [])
    return found


def _check_only_added(before: str, after: str, record: dict[str, Any], label: str) -> None:
    """The round trip changed nothing but the new record (else nothing is written)."""
    old, new = yaml.safe_load(before), yaml.safe_load(after)
    added = [s for s in new.get("sites", []) if s not in old.get("sites", [])]
    rest = [s for s in new.get("sites", []) if s is not added[0]] if len(added) == 1 else None
    if added != [record] or rest != old.get("sites") or {**new, "sites": None} != {**old, "sites": None}:
        raise ModelError(
            Problem(label, "", "sites", "adding the site would change more than the site; edit it by hand")
        )


def new_environment(
    target: str | Path,
    template: str | Path,
    province: ProvinceSpec,
    prepare: Callable[[Path], None] = lambda _env: None,
) -> Path:
    """A new province's environment at `target`, from `template` (inventories/sample-province):
    its ministry, the province office and its DC renamed for `province`, and every other file
    (zones.yml, waivers.yml, group_vars, vault.yml.example, jinbao.yml); the template's own
    cities, counties and townships, allocations and secrets left behind. The directory is made
    beside `target`, validated (the model, zones.yml), handed to `prepare` (the CLI plans its
    addresses there), and only then renamed into place: a refused one leaves nothing."""
    target, template = Path(target), Path(template)
    if target.exists():
        raise ModelError(Problem(str(target), "", "", "exists already; a new environment needs a new directory"))
    old = _template_sites(template)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        shutil.copytree(template, staging, ignore=shutil.ignore_patterns(*NOT_COPIED), dirs_exist_ok=True)
        _rename_sites(staging / "sites.yml", old, province)
        base = (yaml.safe_load((template / "addressing.yml").read_text()) or {}).get("base")
        addressing = {"provinces": {"assigned": {province.id: province.block}}}
        if base:
            addressing["base"] = os.path.relpath((template / base).resolve(), target.resolve())
        _set(staging / "addressing.yml", addressing)
        _set(staging / "group_vars/all/management.yml", {"jinbao_domain": f"{province.slug}.jinbao.internal"})
        if (staging / "group_vars/all/business.yml").exists():
            _set(staging / "group_vars/all/business.yml", {"jinbao_business_site": province.dc_id})
        zones.load(staging, network=load(staging, cache=False))
        prepare(staging)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


@dataclass(frozen=True)
class ProvinceSpec:
    """What `jinbao new province` is told: the province office's id, slug and name, the /13
    the national plan assigned it, and its DC's name (default: the office's, plus 数据中心)."""

    id: str
    slug: str
    name: str
    block: str
    dc_name: str | None = None

    @property
    def dc_id(self) -> str:
        return f"{self.id}-dc"


def _template_sites(template: Path) -> dict[str, dict]:
    """The template's province and DC records (one each: what a province environment holds)."""
    listed = (yaml.safe_load((template / "sites.yml").read_text()) or {}).get("sites") or []
    found = {tier: [s for s in listed if s.get("tier") == tier] for tier in ("province", "datacenter")}
    if any(len(records) != 1 for records in found.values()):
        raise ModelError(Problem(str(template / "sites.yml"), "", "sites", "a template has one province and one DC"))
    return {tier: records[0] for tier, records in found.items()}


def _rename_sites(path: Path, old: dict[str, dict], province: ProvinceSpec) -> None:
    """sites.yml with the template's province and DC renamed, and its example sites left out."""
    rt = _round_trip(path.read_text(encoding="utf-8"))
    doc = rt.load(path.read_text(encoding="utf-8"))
    for index in reversed(range(len(doc["sites"]))):
        if doc["sites"][index].get("tier") in EXAMPLE_TIERS:
            del doc["sites"][index]
    for site in doc["sites"]:
        if site.get("id") == old["province"]["id"]:
            site.update(id=province.id, slug=province.slug, name=province.name)
        elif site.get("id") == old["datacenter"]["id"]:
            site.update(id=province.dc_id, slug=f"{province.slug}-dc", parent=province.id)
            site["name"] = province.dc_name or f"{province.name}数据中心"
        for line in site.get("uplinks") or []:
            line.pop("circuit_id", None)  # the carrier's number for the template's line, not this one's
    _dump(rt, doc, path)


def _set(path: Path, values: dict[str, Any]) -> None:
    """Top-level keys of a YAML file set (mappings merged one level), comments kept."""
    rt = _round_trip(path.read_text(encoding="utf-8"))
    doc = rt.load(path.read_text(encoding="utf-8"))
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(doc.get(key), dict):
            for inner, setting in value.items():
                doc[key][inner] = _styled_like(doc[key].get(inner), setting)
        else:
            doc[key] = _styled_like(doc.get(key), value)
    _dump(rt, doc, path)


def _styled_like(old: Any, new: Any) -> Any:
    """A mapping replacing one written `{a: b}` is written so too."""
    if isinstance(new, dict) and isinstance(old, CommentedMap) and old.fa.flow_style():
        styled = CommentedMap(new)
        styled.fa.set_flow_style()
        return styled
    return new


def _round_trip(text: str) -> YAML:
    rt = YAML()
    rt.preserve_quotes = True
    rt.width = 4096
    rt.indent(mapping=2, sequence=4, offset=2)
    rt.explicit_start = text.lstrip().startswith("---")
    return rt


def _dump(rt: YAML, doc: Any, path: Path) -> None:
    out = io.StringIO()
    rt.dump(doc, out)
    path.write_text(out.getvalue().rstrip("\n") + "\n", encoding="utf-8")
