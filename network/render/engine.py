"""Render device configs: Jinja2 templates per platform, fed by device_context().

Writing is incremental and honest: a file is rewritten only when its text changed,
files of devices that left the model are removed, and everything is written to a
temporary name first, so an error leaves the previous build as it was.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import Environment, FileSystemBytecodeCache, FileSystemLoader, StrictUndefined, TemplateError

from network.errors import JinbaoError, Problem, RenderError
from network.fileio import write_atomic
from network.ipam import Allocations
from network.ipam.conventions import ip_of
from network.ipam.pools import parse_ip, to_ip
from network.model import Network, Site
from network.platforms import platform
from network.render import state
from network.render.context import device_context
from network.render.design import RenderIndex
from network.render.secrets import Secrets

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
MANIFEST = state.MANIFEST
CHUNK = 500
PARALLEL_FROM = 2000  # below this, forking costs more than it saves
_WORKER: tuple[Renderer, Path, str] | None = None  # what a forked worker renders with


STAGED, SAME = "staged", "same"  # a config written beside its file (changed or new), or unchanged


def _render_chunk(keys: list[tuple[str, str]]):
    assert _WORKER is not None
    renderer, out_dir, token = _WORKER
    sites = renderer.network.sites
    return renderer._stage_chunk([(sites[s], sites[s].device(d)) for s, d in keys], out_dir, token)


def _address_and_length(address: str) -> tuple[int, int]:
    """'10.0.0.5/30' -> (address as int, 30); a bare address is a /32. Refuses what is not IPv4."""
    text, _, length = address.partition("/")
    if length and not (length.isdigit() and int(length) <= 32):
        raise ValueError(f"{address!r} is not an IPv4 address with a prefix length")
    return parse_ip(text), int(length) if length else 32


MASKS = tuple(to_ip((0xFFFFFFFF << (32 - n)) & 0xFFFFFFFF) for n in range(33))  # by prefix length
WILDCARDS = tuple(to_ip(0xFFFFFFFF >> n) for n in range(33))


def _netmask(address: str) -> str:
    return MASKS[_address_and_length(address)[1]]


def _wildcard(address: str) -> str:
    return WILDCARDS[_address_and_length(address)[1]]


def _network(address: str) -> str:
    value, length = _address_and_length(address)
    return to_ip(value & ((0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF))


# what `x.name` finds on a dict before its keys (Jinja looks up the attribute first)
_DICT_ATTRIBUTES = frozenset(dir(dict))


class _Environment(Environment):
    """Jinja's environment, with `x.name` on a plain dict read as its key straight away. Jinja
    tries the attribute first and takes the key after an AttributeError, for every lookup;
    the result is the same unless the key is one of dict's own attributes, which go Jinja's way."""

    def getattr(self, obj, attribute):
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


def environment() -> Environment:
    env = _Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # device configs, not HTML
        auto_reload=False,  # one run renders with the templates it started with: no stat per include
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
    # each config's signature as this render left it (network/render/state.py); not reported
    signatures: dict[str, tuple] = field(default_factory=dict, repr=False)

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

        Large runs fan out over the CPU cores (fork: the workers inherit the model). A worker
        writes each config whose text changed beside its file under the run's token; this process
        puts them in place (one rename each, so no config is ever seen half-written) only after
        every device rendered, and removes them all on an error: the previous build stays as it
        was. The render record (network/render/state.py) is dropped before anything is written,
        so a run killed halfway leaves nothing that vouches for the directory; a full render
        writes a new one, a partial one leaves that to whoever chose the devices from the record.
        A full render that the record shows to be current (same inputs, configs untouched)
        renders nothing.
        """
        out_dir = Path(out_dir)
        with state.exclusive(out_dir):  # what the directory holds is read under the lock too
            if only is None and state.current(out_dir, self.network, self.secrets, self._allocations_digest()):
                files = sorted(state.manifest(out_dir))
                if progress:
                    progress(len(files))
                return RenderResult(unchanged=files)
            devices = list(only) if only is not None else list(self.network.iter_devices())
            previous = state.manifest(out_dir)
            if state.read(out_dir) is None:  # a render killed halfway drops no record: its staged files stay
                state.remove_leftovers(out_dir)
            state.clear(out_dir)  # from here until the new record, nothing vouches for the directory
            token = uuid.uuid4().hex[:12]  # this run's staged files: .<name>.<token>.tmp
            try:
                workers = workers or min(os.cpu_count() or 1, 8)
                staged = self._render_into(out_dir, devices, token, workers, progress)
                stale = set(stale) - set(staged)
                result = self._commit(out_dir, staged, token, previous, prune=only is None, stale=stale)
            except BaseException:  # the workers are gone: nothing writes any more
                for path in out_dir.glob(f".*.{token}.tmp"):
                    path.unlink(missing_ok=True)
                raise
            if only is None:
                state.write(out_dir, self.network, self.secrets, self._allocations_digest(), result.signatures)
        return result

    def _render_into(self, out_dir: Path, devices: list, token: str, workers: int, progress) -> dict[str, tuple]:
        """Config file -> (STAGED or SAME, the signature of the file compared), for every device
        (over the cores for many)."""
        chunks = [devices[i : i + CHUNK] for i in range(0, len(devices), CHUNK)]
        staged: dict[str, tuple] = {}
        if workers > 1 and len(devices) >= PARALLEL_FROM and "fork" in mp.get_all_start_methods():
            global _WORKER
            _WORKER = (self, out_dir, token)
            try:
                with mp.get_context("fork").Pool(workers) as pool:
                    for done in pool.imap(_render_chunk, [[(s.id, d.name) for s, d in chunk] for chunk in chunks]):
                        self._merge(staged, done, progress)
            finally:
                _WORKER = None
        else:
            for chunk in chunks:
                self._merge(staged, self._stage_chunk(chunk, out_dir, token), progress)
        return staged

    def _allocations_digest(self) -> str:
        return state.allocations_digest(self.index.allocations)

    def _stage_chunk(self, chunk: list, out_dir: Path, token: str) -> list[tuple[str, tuple]] | JinbaoError:
        """Render a chunk of devices: a config whose text changed (or that does not exist) is
        written beside its file under the run's token, for the parent to put in place once every
        device rendered; an unchanged one is left alone, its signature taken as it was compared."""
        done, out = [], str(out_dir)
        try:
            for site, device in chunk:
                name, data = self.filename(site, device), self.render(site, device).encode()
                try:
                    with open(os.path.join(out, name), "rb") as fh:
                        if fh.read() == data:
                            done.append((name, (SAME, state.signature(os.fstat(fh.fileno())))))
                            continue
                except FileNotFoundError:
                    pass
                with os.fdopen(
                    os.open(os.path.join(out, f".{name}.{token}.tmp"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600),
                    "wb",  # configs hold secrets: 0600 from the start
                ) as fh:
                    fh.write(data)
                done.append((name, (STAGED, None)))
        except JinbaoError as exc:  # carried back to the parent, raised there
            return exc
        return done

    @staticmethod
    def _merge(staged: dict[str, tuple], done, progress) -> None:
        if isinstance(done, JinbaoError):
            raise done
        staged.update(done)
        if progress:
            progress(len(done))

    def _commit(
        self, out_dir: Path, staged: dict[str, tuple], token: str, previous: set[str], prune: bool, stale: set[str]
    ) -> RenderResult:
        """Put the staged configs in place, remove the stale ones, and list what the directory holds."""
        result = RenderResult()
        out = str(out_dir)
        for name, (outcome, signature) in sorted(staged.items()):
            if outcome == STAGED:
                path = os.path.join(out, name)
                os.replace(os.path.join(out, f".{name}.{token}.tmp"), path)
                signature = state.signature(os.stat(path))
            (result.unchanged if outcome == SAME else result.written).append(name)
            result.signatures[name] = signature
        for name in sorted(stale & previous):
            (out_dir / name).unlink(missing_ok=True)
            result.removed.append(name)
        current = (previous - stale) | set(staged)
        if prune:
            for name in sorted(previous - set(staged)):
                (out_dir / name).unlink(missing_ok=True)
                result.removed.append(name)
            current = set(staged)
        manifest_path = out_dir / MANIFEST
        write_atomic(manifest_path, json.dumps({"files": sorted(current)}, indent=0).encode())
        return result
