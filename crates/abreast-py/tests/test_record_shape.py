"""One record shape everywhere: the five front ends give the same page keys with the same values
for the same page (abreast.fetch, abreast.extract, abreast.extract_many, `abreast fetch`,
`abreast extract`), and add their own fields only where those apply."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

import abreast
from abreast._types import PageFields, Page, Record

# The page fields, from the type stubs: the stubs and the records must agree too.
PAGE_KEYS = set(PageFields.__annotations__)
FETCH_KEYS = set(Record.__annotations__) - PAGE_KEYS
EXTRACT_KEYS = set(Page.__annotations__) - PAGE_KEYS


def test_the_stubs_name_the_shared_page_fields():
    assert {"charset", "title", "meta", "og", "json_ld", "preview", "capped"} <= PAGE_KEYS
    assert {"url", "status", "ok", "error", "elapsed_ms", "bytes", "truncated", "http_version"} <= FETCH_KEYS
    assert EXTRACT_KEYS == {"url", "truncated"}


def test_five_front_ends_give_one_shape(site, cli, tmp_path: Path):
    url = site.url("/page/7")
    with urllib.request.urlopen(url) as response:
        html = response.read()
        content_type = response.headers["Content-Type"]

    [fetched] = list(abreast.fetch([url]))
    extracted = abreast.extract(html, url=url, content_type=content_type)
    [many] = list(abreast.extract_many([(html, url, content_type)]))

    cli_fetch = subprocess.run([cli, "fetch", "-"], input=url.encode(), capture_output=True, check=True)
    [cli_fetched] = [json.loads(line) for line in cli_fetch.stdout.splitlines()]
    page_file = tmp_path / "page.html"
    page_file.write_bytes(html)
    cli_extract = subprocess.run(
        [cli, "extract", str(page_file), "--url", url, "--content-type", content_type],
        capture_output=True,
        check=True,
    )
    [cli_extracted] = [json.loads(line) for line in cli_extract.stdout.splitlines()]

    records = {
        "abreast.fetch": fetched,
        "abreast.extract": extracted,
        "abreast.extract_many": many,
        "abreast fetch": cli_fetched,
        "abreast extract": cli_extracted,
    }
    # Key sets: every front end has every page key; a record adds the fetch's fields, a page
    # in memory adds its url and whether it was cut.
    for name, record in records.items():
        assert PAGE_KEYS <= set(record), (name, PAGE_KEYS - set(record))
    for name in ("abreast.fetch", "abreast fetch", "abreast extract"):
        assert set(records[name]) == PAGE_KEYS | FETCH_KEYS, (name, set(records[name]) ^ (PAGE_KEYS | FETCH_KEYS))
    for name in ("abreast.extract", "abreast.extract_many"):
        assert set(records[name]) == PAGE_KEYS | EXTRACT_KEYS, (name, set(records[name]) ^ (PAGE_KEYS | EXTRACT_KEYS))

    # Values: the same page gives the same page fields, field by field.
    reference = fetched
    assert reference["ok"] and reference["title"] == "Page 7" and reference["meta"]
    for name, record in records.items():
        for key in PAGE_KEYS:
            assert record[key] == reference[key], (name, key, record[key], reference[key])
    # The fields beside them mean the same too.
    assert extracted["url"] == many["url"] == url
    assert not extracted["truncated"] and not cli_extracted["truncated"] and not fetched["truncated"]
    assert cli_extracted["final_url"] == url and cli_extracted["ok"]
    assert fetched["http_version"] == cli_fetched["http_version"] == "HTTP/1.1"
    assert cli_extracted["http_version"] is None and cli_extracted["status"] is None
