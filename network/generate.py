"""The national inventory at real scale, for capacity and performance checks.

Deterministic: the same seed writes byte-identical files, so the output need not be
committed (`jinbao generate inventories/national`). Province sizes follow the 2023
administrative counts (cities, counties, townships per province), so the skew is real:
Sichuan has ~180 counties and ~3,100 townships, Ningxia ~20 and ~250. Within a
province, counties per city and townships per county are drawn from a skewed
distribution. Names are synthetic; slugs are unique nationally. Each township states its
insured population (its own random stream, so the tree does not move with it), and every
primary line is the smallest product that carries its need by the capacity rule
(network.model.capacity, the default or the target's group_vars), as `jinbao capacity` checks it.

With villages (`jinbao generate --villages`), every township gets its administrative villages:
about 490,000 in the country, spread over the provinces in proportion to their townships (the
largest, Sichuan here, gets ~39,000: the real largest province has 30,000+) and over a province's
townships skewed like the rest, each village one clerk's post. They go to sites/<province>-villages.yml
(their own random stream: the tree does not move with them) and their posts size their township's line.
"""

from __future__ import annotations

import random
import re
import shutil
from pathlib import Path

from network.capacity import line_loads
from network.model.capacity import CapacityRule
from network.model.load import load_policy
from network.model.schema import Site, Uplink, format_bandwidth

# slug, prefix, name, cities, counties, townships (approximate 2023 counts)
PROVINCES: tuple[tuple[str, str, str, int, int, int], ...] = (
    ("beijing", "bj", "北京市", 1, 16, 343),
    ("tianjin", "tj", "天津市", 1, 16, 252),
    ("hebei", "he", "河北省", 11, 167, 2255),
    ("shanxi", "sx", "山西省", 11, 117, 1278),
    ("neimenggu", "nm", "内蒙古自治区", 12, 103, 1025),
    ("liaoning", "ln", "辽宁省", 14, 100, 1355),
    ("jilin", "jl", "吉林省", 9, 60, 941),
    ("heilongjiang", "hl", "黑龙江省", 13, 121, 1292),
    ("shanghai", "sh", "上海市", 1, 16, 215),
    ("jiangsu", "js", "江苏省", 13, 95, 1237),
    ("zhejiang", "zj", "浙江省", 11, 90, 1364),
    ("anhui", "ah", "安徽省", 16, 104, 1500),
    ("fujian", "fj", "福建省", 9, 84, 1108),
    ("jiangxi", "jx", "江西省", 11, 100, 1579),
    ("shandong", "sd", "山东省", 16, 136, 1825),
    ("henan", "ha", "河南省", 17, 157, 2462),
    ("hubei", "hb", "湖北省", 13, 103, 1257),
    ("hunan", "hn", "湖南省", 14, 122, 1944),
    ("guangdong", "gd", "广东省", 21, 122, 1612),
    ("guangxi", "gx", "广西壮族自治区", 14, 111, 1251),
    ("hainan", "hi", "海南省", 4, 25, 218),
    ("chongqing", "cq", "重庆市", 1, 38, 1031),
    ("sichuan", "sc", "四川省", 21, 183, 3101),
    ("guizhou", "gz", "贵州省", 9, 88, 1509),
    ("yunnan", "yn", "云南省", 16, 129, 1419),
    ("xizang", "xz", "西藏自治区", 7, 74, 697),
    ("shaanxi", "sn", "陕西省", 10, 107, 1312),
    ("gansu", "gs", "甘肃省", 14, 86, 1356),
    ("qinghai", "qh", "青海省", 8, 44, 404),
    ("ningxia", "nx", "宁夏回族自治区", 5, 22, 245),
    ("xinjiang", "xj", "新疆维吾尔自治区", 14, 106, 1144),
)

VILLAGES = 490_000  # administrative villages (行政村) in the country, 2023


def village_counts(scale: float = 1.0) -> dict[str, int]:
    """Province slug -> its villages: the country's spread in proportion to the townships."""
    townships = sum(spec[5] for spec in PROVINCES)
    return {spec[0]: round(VILLAGES * scale * spec[5] / townships) for spec in PROVINCES}


DC_HOSTS = (
    "[{name: db1, role: database, zone: core-db},\n"
    "       {name: db2, role: database, zone: core-db},\n"
    "       {name: app1, role: middleware, zone: internal},\n"
    "       {name: web1, role: web, zone: internal},\n"
    "       {name: ops1, role: ops, zone: ops, provides: [syslog, ntp, snmp-manager]},\n"
    "       {name: fep1, role: front-end-processor, zone: external},\n"
    "       {name: partner1, role: partner-gateway, zone: partner},\n"
    "       {name: decl1, role: declaration-web, zone: dmz}]"
)


def _split(rng: random.Random, total: int, parts: int) -> list[int]:
    """total items over parts buckets, each >= 1, skewed (a few large, many small)."""
    weights = [rng.paretovariate(2.5) for _ in range(parts)]
    scale = (total - parts) / sum(weights)
    counts = [1 + int(w * scale) for w in weights]
    for index in range(total - sum(counts)):  # hand out the rounding remainder
        counts[index % parts] += 1
    return counts


def _device(platform: str, role: str) -> str:
    return f"[{{name: r1, role: {role}, platform: {platform}}}]"


SIZED = re.compile(r"@(\S+?)@")  # a primary line's bandwidth, written once its need is known


def _record(sid: str, tier: str, parent: str, posts: int, line: str, insured: int | None = None, **kw) -> Site:
    """What the capacity rule reads of a generated site: its place, posts, insured and primary line."""
    uplink = Uplink(None, parent, "", line, 1, None, None, None)
    return Site(sid, sid, sid, tier, parent, posts, None, (), (uplink,), (), kw.get("dr_for"), insured)


def _sized(text: str, records: list[Site], rule: CapacityRule) -> str:
    """Every @<site id>@ placeholder becomes the smallest line that carries the site's need."""
    sizes = {
        load.site: format_bandwidth(rule.line_size_kbps(load.need_kbps))
        for load in line_loads({r.id: r for r in records}, rule)
        if not load.backup and load.need_kbps is not None
    }
    return SIZED.sub(lambda match: sizes[match.group(1)], text)


def _insured(rng: random.Random) -> int:
    """A township's insured population: skewed, a median about 11,000 (about 0.5 billion in all)."""
    return min(150_000, max(1_000, int(round(rng.lognormvariate(9.3, 0.6), -2))))


def _site(
    sid: str,
    name: str,
    tier: str,
    parent: str,
    posts: int,
    devices: str,
    uplinks: list[str],
    extra: str = "",
    insured: int | None = None,
) -> str:
    lines = ",\n     ".join(uplinks)
    people = f", insured: {insured}" if insured is not None else ""
    return (
        f"  - {{id: {sid}, slug: {sid}, name: {name}, tier: {tier}, parent: {parent}, posts: {posts}{people},\n"
        f"     devices: {devices},\n"
        f"     uplinks: [{lines}]}}\n"
        f"{extra}"
    )


def _villages(rng: random.Random, townships: list[str], total: int) -> tuple[str, list[Site]]:
    """The villages of a province's townships (total of them, skewed over the townships), as a sites
    file and as the records the capacity rule reads: one post each, no router or line of their own."""
    out, records = [], []
    for township, count in zip(townships, _split(rng, max(total, len(townships)), len(townships)), strict=True):
        for v in range(count):
            village = f"{township}-v{v + 1:03d}"
            records.append(Site(village, village, village, "village", township, 1, None, (), (), ()))
            out.append(
                f"  - {{id: {village}, slug: {village}, name: 第{v + 1}村, tier: village, "
                f"parent: {township}, posts: 1}}\n"
            )
    return "".join(out), records


def _province_file(
    rngs: tuple[random.Random, random.Random, random.Random | None],
    spec: tuple[str, str, str, int, int, int],
    index: int,
    rule: CapacityRule,
    n_villages: int = 0,
) -> tuple[str, str, dict]:
    """(rng for the tree, rng for the insured population, rng for the villages or None), so that
    each may change alone. Returns the province's sites file, its villages' file and the counts."""
    rng, people, villagers = rngs
    slug, prefix, name, n_cities, n_counties, n_townships = spec
    records: list[Site] = []
    vendor = "huawei_vrp" if index % 3 else "h3c_comware"  # provinces buy from different vendors
    other = "h3c_comware" if vendor == "huawei_vrp" else "huawei_vrp"
    out = [f"# {name}: generated by `jinbao generate`, do not edit.\nsites:\n"]
    posts = rng.randint(30, 60)
    records.append(_record(slug, "province", "ministry", posts, "mpls-vpn"))
    out.append(
        _site(
            slug,
            name,
            "province",
            "ministry",
            posts,
            _device(vendor, "core"),
            [f"{{carrier: china-telecom, type: mpls-vpn, bandwidth: @{slug}@, circuit_id: CT-{prefix.upper()}-0001}}"],
        )
    )
    dc = f"{prefix}-dc"
    records.append(_record(dc, "datacenter", slug, 0, "fibre"))
    out.append(
        f"  - {{id: {dc}, slug: {dc}, name: {name}社保数据中心, tier: datacenter, parent: {slug},\n"
        f"     devices: {_device(vendor, 'border')},\n"
        f"     uplinks: [{{carrier: china-telecom, type: fibre, bandwidth: @{dc}@}}],\n"
        f"     hosts: {DC_HOSTS}}}\n"
    )
    counts = {"province": 1, "city": 0, "county": 0, "township": 0, "datacenter": 1}
    counties_per_city = _split(rng, n_counties, n_cities)
    townships_per_county = _split(rng, n_townships, n_counties)
    county_index = 0
    for c in range(n_cities):
        city = f"{prefix}-c{c + 1:02d}"
        counts["city"] += 1
        posts = rng.randint(15, 40)
        records.append(_record(city, "city", slug, posts, "mstp"))
        out.append(
            _site(
                city,
                f"{name}第{c + 1}市",
                "city",
                slug,
                posts,
                _device(vendor, "aggregation"),
                [f"{{carrier: china-telecom, type: mstp, bandwidth: @{city}@}}"],
            )
        )
        if c == 1 or (n_cities == 1 and c == 0):  # the off-site DR centre sits in a second city
            dr = f"{prefix}-dr"
            counts["datacenter"] += 1
            records.append(_record(dr, "datacenter", city, 0, "fibre", dr_for=dc))  # replication: not sized
            out.append(
                f"  - {{id: {dr}, slug: {dr}, name: {name}社保异地灾备中心, tier: datacenter, parent: {city},\n"
                f"     dr_for: {dc},\n"
                f"     devices: {_device(vendor, 'border')},\n"
                f"     uplinks: [{{carrier: china-unicom, type: fibre, bandwidth: 10G}}],\n"
                f"     hosts: {DC_HOSTS}}}\n"
            )
        for x in range(counties_per_city[c]):
            county = f"{city}-x{x + 1:02d}"
            counts["county"] += 1
            posts = rng.randint(8, 25)
            records.append(_record(county, "county", city, posts, "mstp"))
            out.append(
                _site(
                    county,
                    f"{name}第{c + 1}市第{x + 1}县",
                    "county",
                    city,
                    posts,
                    _device(other if x % 2 else vendor, "aggregation"),
                    [f"{{carrier: china-unicom, type: mstp, bandwidth: @{county}@}}"],
                )
            )
            for t in range(townships_per_county[county_index]):
                township = f"{county}-t{t + 1:03d}"
                counts["township"] += 1
                lines = [f"{{carrier: china-telecom, type: mstp, bandwidth: @{township}@}}"]
                roll = rng.random()
                if roll < 0.25:
                    lines.append("{carrier: china-mobile, type: 4g, bandwidth: 20M}")
                elif roll < 0.30:
                    lines.append(f"{{carrier: china-mobile, type: 4g, bandwidth: 20M, parent: {city}}}")
                platform = "frr" if rng.random() < 0.05 else (vendor if rng.random() < 0.6 else other)
                posts, insured = rng.randint(2, 12), _insured(people)
                records.append(_record(township, "township", county, posts, "mstp", insured))
                out.append(
                    _site(
                        township,
                        f"{name}第{c + 1}市第{x + 1}县第{t + 1}乡镇",
                        "township",
                        county,
                        posts,
                        _device(platform, "access"),
                        lines,
                        insured=insured,
                    )
                )
            county_index += 1
    villages = ""
    if villagers is not None:
        townships = [r.id for r in records if r.tier == "township"]
        villages, village_records = _villages(villagers, townships, n_villages)
        records += village_records
        counts["village"] = len(village_records)
        villages = f"# {name}'s villages: generated by `jinbao generate --villages`, do not edit.\nsites:\n{villages}"
    return _sized("".join(out), records, rule), villages, counts


def generate_national(target: Path, seed: int = 2023, scale: float = 1.0, villages: bool = False) -> dict[str, int]:
    """Write target/sites/*.yml (and group_vars, when missing). Returns counts per tier."""
    target = Path(target)
    rng = random.Random(seed)
    sites_dir = target / "sites"
    if sites_dir.exists():
        shutil.rmtree(sites_dir)
    sites_dir.mkdir(parents=True)
    (sites_dir / "00-ministry.yml").write_text(
        "# The ministry: generated by `jinbao generate`, do not edit.\nsites:\n"
        "  - {id: ministry, slug: ministry, name: 人力资源和社会保障部, tier: ministry, posts: 60,\n"
        "     devices: [{name: r1, role: core, platform: huawei_vrp}]}\n"
    )
    vault = target / "group_vars" / "all" / "vault.yml"
    if not vault.exists():  # synthetic secrets, so that the benchmark renders vendor configs
        vault.parent.mkdir(parents=True, exist_ok=True)
        vault.write_text(
            "---\n# Synthetic secrets written by `jinbao generate`; never used on a device.\n"
            "vault_jinbao_user_passwords: {netadmin: Synthetic-Admin-1, auditor: Synthetic-Audit-1}\n"
            "vault_jinbao_snmp_auth_key: Synthetic-Auth-1\nvault_jinbao_snmp_priv_key: Synthetic-Priv-1\n"
        )
    rule = load_policy(target).capacity  # the target's jinbao_capacity, else the rule's defaults
    totals = {"ministry": 1}
    village_totals = village_counts(scale)
    for index, spec in enumerate(PROVINCES):
        slug, prefix, name, cities, counties, townships = spec
        if scale != 1.0:
            counties = max(cities, round(counties * scale))
            townships = max(counties, round(townships * scale))
        people = random.Random(f"{seed}-{slug}-insured")
        villagers = random.Random(f"{seed}-{slug}-villages") if villages else None
        rngs = (rng, people, villagers)
        scaled = (slug, prefix, name, cities, counties, townships)
        text, village_text, counts = _province_file(rngs, scaled, index, rule, village_totals[slug])
        (sites_dir / f"{slug}.yml").write_text(text)
        if village_text:
            (sites_dir / f"{slug}-villages.yml").write_text(village_text)
        for tier, count in counts.items():
            totals[tier] = totals.get(tier, 0) + count
    return totals
