"""China's administrative divisions (provinces and prefecture-level cities with their coordinates) and
the matching of free-text address regions and cities to them.

Source: the ``adcodes.csv`` data file shipped in the ``cpca`` package (MIT; the codes of the Ministry of
Civil Affairs' administrative division list, GB/T 2260, with each seat's longitude and latitude). Only the
file is read (through the package's installed metadata); cpca's code is never imported.
"""
from __future__ import annotations

import csv
import functools
import io
import re
from dataclasses import dataclass

SUFFIXES = ("维吾尔自治区", "壮族自治区", "回族自治区", "特别行政区", "自治区", "省", "市")
# English names that are not the plain pinyin of the short name (or that share it)
ENGLISH = {"shaanxi": "61", "shanxi": "14", "innermongolia": "15", "neimenggu": "15", "tibet": "54",
           "xizang": "54", "hongkong": "81", "macau": "82", "macao": "82", "taiwan": "71"}
MUNICIPALITIES = ("11", "12", "31", "50")


@dataclass(frozen=True)
class Division:
    code: str  # two digits for a province, four for a city
    name: str  # the full name: 广东省, 广州市
    short: str  # 广东, 广州
    lon: float
    lat: float


def _short(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    for suffix in ("地区", "自治州", "盟"):
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    return name


def _raw() -> str:
    from importlib.metadata import distribution

    path = distribution("cpca").locate_file("cpca/resources/adcodes.csv")
    return open(str(path), encoding="utf-8").read()  # noqa: SIM115 - a small file, read once


@functools.cache
def divisions() -> tuple[dict[str, Division], dict[str, Division]]:
    """(provinces by two-digit code, prefecture-level cities by four-digit code). A municipality (Beijing,
    Tianjin, Shanghai, Chongqing) is its own city."""
    provinces: dict[str, Division] = {}
    cities: dict[str, Division] = {}
    for row in csv.DictReader(io.StringIO(_raw())):
        code = row["adcode"]
        if not row["longitude"] or not row["latitude"]:  # a few grouping rows (直辖县级行政区划) have no seat
            continue
        if code[2:] == "0" * 10:
            provinces[code[:2]] = Division(code[:2], row["name"], _short(row["name"]), float(row["longitude"]),
                                           float(row["latitude"]))
        elif code[4:] == "0" * 8:
            cities[code[:4]] = Division(code[:4], row["name"], _short(row["name"]), float(row["longitude"]),
                                        float(row["latitude"]))
    for code in MUNICIPALITIES:
        p = provinces[code]
        cities[code + "00"] = Division(code + "00", p.name, p.short, p.lon, p.lat)
    return provinces, cities


def _key(text: str) -> str:
    return re.sub(r"[\s\-_'’.,]+", "", text).lower()


@functools.cache
def _indexes() -> tuple[dict[str, str], dict[str, list[str]]]:
    from crmcore.pinyin import lazy_pinyin

    provinces, cities = divisions()
    by_province: dict[str, str] = dict(ENGLISH)
    for code, p in provinces.items():
        for name in (p.name, p.short):
            by_province[_key(name)] = code
        by_province.setdefault("".join(lazy_pinyin(p.short)), code)
    by_city: dict[str, list[str]] = {}
    for code, c in cities.items():
        keys = {_key(c.name), _key(c.short), "".join(lazy_pinyin(c.short))}
        for key in keys:
            by_city.setdefault(key, []).append(code)
    return by_province, by_city


def province_of(text: str | None) -> str | None:
    """The two-digit code of the province an address's region names (广东省, 广东, Guangdong, Shaanxi...)."""
    if not text:
        return None
    by_province, _cities = _indexes()
    key = _key(text)
    if key.endswith("province"):
        key = key[: -len("province")]
    return by_province.get(key)


def city_of(text: str | None, province: str | None = None) -> str | None:
    """The four-digit code of the city named (杭州市, 杭州, Hangzhou), within ``province`` when given; a
    district of a municipality (上海市浦东新区 is not matched: give the city) or an ambiguous name gives None."""
    if not text:
        return None
    _provinces, by_city = _indexes()
    key = _key(text)
    if key.endswith("city"):
        key = key[: -len("city")]
    codes = by_city.get(key, [])
    if province:
        codes = [c for c in codes if c.startswith(province)]
    return codes[0] if len(codes) == 1 else None


def locate(region: str | None, city: str | None) -> tuple[str | None, str | None]:
    """(province code, city code) of an address: the province from the region, else from the city; the
    city within that province; a municipality's city is the municipality itself."""
    province = province_of(region)
    city_code = city_of(city, province)
    if province is None and city_code is not None:
        province = city_code[:2]
    if province is None and city:  # a municipality written as the city (上海, Beijing)
        province = province_of(city)
    if province in MUNICIPALITIES:
        city_code = province + "00"
    return province, city_code
