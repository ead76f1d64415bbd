"""Render device configs: Jinja2 templates per platform, fed by device_context().

Writing is incremental and honest: a file is rewritten only when its text changed,
files of devices that left the model are removed, and everything is written to a
temporary name first, so an error leaves the previous build as it was.
"""

from __future__ import annotations

import ipaddress
import json
import multiprocessing as mp
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import Environment, FileSystemBytecodeCache, FileSystemLoader, StrictUndefined, TemplateError

from network.errors import JinbaoError, Problem, RenderError
from network.fileio import write_atomic
from network.ipam import Allocations
from network.ipam.conventions import ip_of
from network.model import Network, Site
from network.platforms import platform
from network.render import state
from network.render.context import device_context
from network.render.design import RenderIndex
from network.render.secrets import Secrets

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
MANIFEST = ".manifest.json"
CHUNK = 500
PARALLEL_FROM = 2000  # below this, forking costs more than it saves
_WORKER: Renderer | None = None


def _render_chunk(keys: list[tuple[str, str]]):
    renderer = _WORKER
    assert renderer is not None
    sites = renderer.network.sites
    return renderer._render_chunk([(sites[s], sites[s].device(d)) for s, d in keys])


def _netmask(address: str) -> str:
    return str(ipaddress.IPv4Network(address, strict=False).netmask)


def _wildcard(address: str) -> str:
    return str(ipaddress.IPv4Network(address, strict=False).hostmask)


def _network(address: str) -> str:
    return str(ipaddress.IPv4Network(address, strict=False).network_address)


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # device configs, not HTML
        bytecode_cache=FileSystemBytecodeCache(),  # a private temp dir: saves compiling on every run
    )
    env.filters.update(
        ip=ip_of,
        prefixlen=lambda a: int(a.split("/", 1)[1]) if "/" in a else 32,
        netmask=_netmask,
        wildcard=_wildcard,
        network=_network,
    )
    return env


@dataclass
class RenderResult:
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"written": self.written, "unchanged": self.unchanged, "removed": self.removed}


class Renderer:
    def __init__(self, network: Network, allocations: Allocations, secrets: Secrets | None = None):
        self.network = network
        self.index = RenderIndex.build(network, allocations)
        self.secrets = secrets or Secrets()
        self.env = environment()
        self._templates: dict = {}

    def filename(self, site: Site, device) -> str:
        return platform(device.platform)["config_file"].format(hostname=self.network.hostname(site, device.name))

    def render(self, site: Site, device) -> str:
        context = device_context(self.index, site, device)
        template = self._templates.get(device.platform)
        if template is None:
            template = self._templates[device.platform] = self.env.get_template(f"{device.platform}/device.j2")
        try:
            return template.render(context, secrets=self.secrets)
        except RenderError as exc:  # a missing secret: say which device needed it
            raise RenderError(
                [Problem(p.file, self.network.path(site), p.field, p.message) for p in exc.problems]
            ) from None
        except TemplateError as exc:
            raise RenderError(
                Problem(f"templates/{device.platform}", self.network.path(site), device.name, str(exc))
            ) from exc

    def _devices(self, hostnames) -> dict[str, tuple[Site, object]]:
        devices = {self.network.hostname(s, d.name): (s, d) for s, d in self.network.iter_devices()}
        unknown = [h for h in hostnames if h not in devices]
        if unknown:
            raise RenderError(Problem("sites.yml", "", "", f"no device named {', '.join(unknown)}"))
        return {h: devices[h] for h in hostnames}

    def render_hosts(self, hostnames) -> dict[str, str]:
        """Configs of the named devices (inventory hostnames), for push, audit and the Ansible lookup."""
        return {h: self.render(*sd) for h, sd in self._devices(hostnames).items()}

    def contexts(self, hostnames) -> dict[str, dict]:
        """The render context of the named devices (what their configs are made from), with
        the site id under ``site.id``: compliance rules check a device against these values."""
        return {h: device_context(self.index, *sd) for h, sd in self._devices(hostnames).items()}

    def render_all(
        self,
        out_dir: Path,
        only: Iterable[tuple[Site, object]] | None = None,
        progress: Callable[[int], None] | None = None,
        workers: int | None = None,
        stale: Iterable[str] = (),
    ) -> RenderResult:
        """Render every device (or `only` those, removing the `stale` files) into out_dir.
        All or nothing on error.

        Large runs fan out over the CPU cores (fork: the workers inherit the model);
        files are written by this process only after every device rendered. A full render
        records what it rendered from (network/render/state.py); a partial one drops that
        record, and whoever chose the devices from it records the new one.
        """
        out_dir = Path(out_dir)
        devices = list(only) if only is not None else list(self.network.iter_devices())
        workers = workers or min(os.cpu_count() or 1, 8)
        chunks = [devices[i : i + CHUNK] for i in range(0, len(devices), CHUNK)]
        texts: dict[str, str] = {}
        if workers > 1 and len(devices) >= PARALLEL_FROM and "fork" in mp.get_all_start_methods():
            global _WORKER
            _WORKER = self
            with mp.get_context("fork").Pool(workers) as pool:
                for rendered in pool.imap(_render_chunk, [[(s.id, d.name) for s, d in c] for c in chunks]):
                    self._merge(texts, rendered, progress)
            _WORKER = None
        else:
            for chunk in chunks:
                self._merge(texts, self._render_chunk(chunk), progress)
        state.clear(out_dir)  # until the files are written, nothing vouches for them
        result = self._write(out_dir, texts, prune=only is None, stale=set(stale) - set(texts))
        if only is None:
            state.write(out_dir, self.network, self.secrets, state.allocations_digest(self.index.allocations))
        return result

    def _render_chunk(self, chunk: list) -> list[tuple[str, str]] | JinbaoError:
        try:
            return [(self.filename(site, device), self.render(site, device)) for site, device in chunk]
        except JinbaoError as exc:  # carried back to the parent, raised there
            return exc

    @staticmethod
    def _merge(texts: dict[str, str], rendered, progress) -> None:
        if isinstance(rendered, JinbaoError):
            raise rendered
        texts.update(rendered)
        if progress:
            progress(len(rendered))

    def _write(self, out_dir: Path, texts: dict[str, str], prune: bool, stale: set[str]) -> RenderResult:
        result = RenderResult()
        out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        manifest_path = out_dir / MANIFEST
        previous = set(json.loads(manifest_path.read_text())["files"]) if manifest_path.exists() else set()
        for name, text in sorted(texts.items()):
            path = out_dir / name
            data = text.encode()
            try:
                if path.read_bytes() == data:
                    result.unchanged.append(name)
                    continue
            except FileNotFoundError:
                pass
            write_atomic(path, data, mode=0o600)  # configs hold secrets
            result.written.append(name)
        for name in sorted(stale & previous):
            (out_dir / name).unlink(missing_ok=True)
            result.removed.append(name)
        current = (previous - stale) | set(texts)
        if prune:
            for name in sorted(previous - set(texts)):
                (out_dir / name).unlink(missing_ok=True)
                result.removed.append(name)
            current = set(texts)
        write_atomic(manifest_path, json.dumps({"files": sorted(current)}, indent=0).encode())
        return result
