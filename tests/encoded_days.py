"""The same sales day in the encodings XML allows, for the encoding tests (unit and e2e)."""

from __future__ import annotations

import codecs

__all__ = ["CATEGORY", "ENCODINGS", "NAMES", "PLAIN", "day_text", "encoded_day", "names_for"]

NAMES = ["Смартфон Галактика", "Чайник «Уют»", "Кофе в зёрнах"]
PLAIN = ["Смартфон Галактика", 'Чайник "Уют"', "Кофе в зёрнах"]  # KOI8-R and others lack «»
CATEGORY = "Бытовая техника"

# name → (declared encoding or None, Python codec, byte order mark)
ENCODINGS: dict[str, tuple[str | None, str, bytes]] = {
    "utf-8": ("UTF-8", "utf-8", b""),
    "utf-8-no-declaration": (None, "utf-8", b""),
    "utf-8-bom": ("UTF-8", "utf-8", codecs.BOM_UTF8),
    "windows-1251": ("windows-1251", "cp1251", b""),
    "koi8-r": ("KOI8-R", "koi8-r", b""),
    "iso-8859-5": ("ISO-8859-5", "iso8859-5", b""),
    "ibm866": ("IBM866", "cp866", b""),
    "utf-16le-bom": ("UTF-16", "utf-16-le", codecs.BOM_UTF16_LE),
    "utf-16be-bom": ("UTF-16", "utf-16-be", codecs.BOM_UTF16_BE),
    "utf-16le-bom-no-declaration": (None, "utf-16-le", codecs.BOM_UTF16_LE),
    "utf-16le-no-bom": ("UTF-16LE", "utf-16-le", b""),
    "utf-32le-bom": ("UTF-32", "utf-32-le", codecs.BOM_UTF32_LE),
    "utf-32be-bom": ("UTF-32", "utf-32-be", codecs.BOM_UTF32_BE),
}


def day_text(
    declared: str | None,
    *,
    date: str = "2024-01-01",
    names: list[str] = NAMES,
    category: str = CATEGORY,
) -> str:
    """The day as text: a declaration naming ``declared`` (none if None), one product a name."""
    head = f'<?xml version="1.0" encoding="{declared}"?>\n' if declared else ""
    products = "".join(
        f"    <product><id>{i}</id><name>{n}</name><quantity>2</quantity>"
        f"<price>10.50</price><category>{category}</category></product>\n"
        for i, n in enumerate(names, 1)
    )
    return (
        f'{head}<sales_data date="{date}">\n  <products>\n{products}  </products>\n</sales_data>\n'
    )


def names_for(name: str) -> list[str]:
    """The names that encoding can hold."""
    _, codec, _ = ENCODINGS[name]
    try:
        "".join(NAMES).encode(codec)
    except UnicodeEncodeError:
        return PLAIN
    return NAMES


def encoded_day(name: str, *, date: str = "2024-01-01", names: list[str] | None = None) -> bytes:
    """The bytes a client in that encoding sends."""
    declared, codec, mark = ENCODINGS[name]
    text = day_text(declared, date=date, names=names or names_for(name))
    return mark + text.encode(codec)
