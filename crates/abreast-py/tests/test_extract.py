"""abreast.extract and abreast.extract_many."""

from __future__ import annotations

import json
import subprocess
import urllib.request

import pytest

import abreast

HTML = (
    b"<!doctype html><html lang=en><head>"
    b"<META NAME=description CONTENT='Fish &amp; chips'>"
    b"<meta property='og:title' content='Chips'>"
    b"<title>  The\n shop </title>"
    b"<link rel='Canonical' href='https://example.com/'>"
    b"<script>document.write('<meta name=fake>')</script>"
    b"</head><body><!-- <meta name=commented> --></body></html>"
)


def test_extract_bytes_reads_like_a_browser():
    page = abreast.extract(HTML, url="https://example.com/shop")
    assert page["url"] == "https://example.com/shop"
    assert page["title"] == "The shop"
    assert page["lang"] == "en"
    assert page["canonical"] == "https://example.com/"
    assert page["description"] == "Fish & chips"
    assert page["og"] == {"title": ["Chips"]}
    assert page["preview"]["title"] == "Chips"
    assert page["preview"]["url"] == "https://example.com/"
    # No icon declared: the preview falls back on the origin's /favicon.ico.
    assert page["preview"]["icon"] == "https://example.com/favicon.ico"
    assert page["meta"] == [
        {"name": "description", "content": "Fish & chips"},
        {"property": "og:title", "content": "Chips"},
    ]
    assert page["truncated"] is False
    assert page["url"] == "https://example.com/shop"


def test_relative_urls_resolve_against_base_then_the_url():
    html = (
        b"<head><base href='/static/'><link rel=icon href='i.png' sizes=32x32>"
        b"<meta property=og:image content='img/a.jpg'><meta property=og:image:width content=1200>"
        b"<link rel=alternate type='application/rss+xml' href='/feed' title=News>"
        b"<script type='application/ld+json'>{\"@type\": \"Article\", \"headline\": \"H\",}</script>"
        b"</head>"
    )
    page = abreast.extract(html, url="https://example.com/news/1")
    assert page["icons"] == [
        {"href": "https://example.com/static/i.png", "rel": "icon", "sizes": "32x32"}
    ]
    assert page["og"]["image"] == [{"url": "https://example.com/static/img/a.jpg", "width": "1200"}]
    assert page["feeds"] == [
        {"href": "https://example.com/feed", "type": "application/rss+xml", "title": "News"}
    ]
    assert page["json_ld"] == [{"@type": "Article", "headline": "H"}], "a trailing comma is tolerated"
    assert page["preview"]["image"] == "https://example.com/static/img/a.jpg"


def test_extract_without_url_gives_none():
    assert abreast.extract(b"<title>x</title>")["url"] is None


@pytest.mark.parametrize("url", ["not a url", "", "/a/b"])
def test_extract_refuses_a_url_that_is_not_absolute_as_the_command_line_does(url):
    with pytest.raises(ValueError, match="is not an absolute URL; give the page's address"):
        abreast.extract(b"<title>x</title>", url=url)


def test_extract_str_is_read_as_utf8():
    page = abreast.extract("<meta charset=shift_jis><title>caf\u00e9 \u65e5\u672c</title>")
    assert page["title"] == "caf\u00e9 \u65e5\u672c"
    assert page["charset"] == "UTF-8"


def test_extract_uses_the_content_type_charset():
    body = "<title>caf\u00e9</title>".encode("iso-8859-2")
    page = abreast.extract(body, content_type="text/html; charset=iso-8859-2")
    assert page["title"] == "caf\u00e9"
    assert page["charset"] == "ISO-8859-2"


def test_extract_bytearray():
    assert abreast.extract(bytearray(b"<title>a</title>"))["title"] == "a"


def test_extract_rejects_bad_arguments():
    with pytest.raises(TypeError, match="html must be bytes or str"):
        abreast.extract(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="content_type applies to bytes only"):
        abreast.extract("<title>x</title>", content_type="text/html")
    with pytest.raises(TypeError, match="url must be a str"):
        abreast.extract(b"", url=b"https://example.com/")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="content_type must be a str"):
        abreast.extract(b"", content_type=1)  # type: ignore[arg-type]


def test_extract_malformed_input_never_raises():
    for body in (b"", b"<", b"<meta", b"\xff\xfe\x00<", bytes(range(256)) * 10, b"<title>" * 1000):
        page = abreast.extract(body)
        assert isinstance(page["meta"], list)


def test_extract_a_test_site_page(site):
    with urllib.request.urlopen(site.page_url(7)) as response:
        body = response.read()
        content_type = response.headers["Content-Type"]
    page = abreast.extract(body, url=site.page_url(7), content_type=content_type)
    assert page["title"] == "Page 7"
    assert page["canonical"] == site.page_url(7)
    assert page["og"]["title"] == ["Page 7"]
    assert page["json_ld"], "the test site's pages carry JSON-LD, parsed"
    # The decoys in a script string and a comment are not metadata.
    assert all(meta.get("name") != "decoy" for meta in page["meta"])


def pages(count):
    return ((f"<title>page {n}</title>".encode(), f"https://example.com/{n}") for n in range(count))


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_extract_many_keeps_input_order(workers):
    results = list(abreast.extract_many(pages(500), workers=workers))
    assert [page["title"] for page in results] == [f"page {n}" for n in range(500)]
    assert [page["url"] for page in results] == [f"https://example.com/{n}" for n in range(500)]


def test_extract_many_equals_extract():
    items = [(HTML, "https://example.com/"), ("<title>t</title>", None), (b"<title>b</title>", None, "text/html")]
    expected = [
        abreast.extract(HTML, url="https://example.com/"),
        abreast.extract("<title>t</title>"),
        abreast.extract(b"<title>b</title>", content_type="text/html"),
    ]
    assert list(abreast.extract_many(items, workers=2)) == expected
    # Bare html, without a url.
    assert list(abreast.extract_many([HTML])) == [abreast.extract(HTML)]


def test_extract_many_raises_a_bad_item_in_its_turn():
    items = [(b"<title>0</title>", "u0"), (b"<title>1</title>", "u1"), (42, "u2"), (b"<title>3</title>", "u3")]
    iterator = abreast.extract_many(items, workers=2)
    assert next(iterator)["title"] == "0"
    assert next(iterator)["title"] == "1"
    with pytest.raises(TypeError, match="item 2: html must be bytes or str"):
        next(iterator)
    assert list(iterator) == []


@pytest.mark.parametrize(
    "item, message",
    [
        ((b"x",), "expected \\(html, url\\)"),
        ((b"x", 1), "the url must be a str or None"),
        ((b"x", "u", 2), "the content_type must be a str or None"),
        (("x", "u", "text/html"), "content_type applies to bytes only"),
    ],
)
def test_extract_many_bad_item_shapes(item, message):
    with pytest.raises(TypeError, match=message):
        list(abreast.extract_many([item]))


def test_extract_many_raises_what_the_iterable_raises():
    def failing():
        yield b"<title>a</title>", "a"
        raise OSError("disk gone")

    iterator = abreast.extract_many(failing(), workers=2)
    assert next(iterator)["title"] == "a"
    with pytest.raises(OSError, match="disk gone"):
        next(iterator)


def test_extract_many_reads_lazily():
    taken = 0

    def endless():
        nonlocal taken
        n = 0
        while True:
            taken += 1
            yield f"<title>{n}</title>".encode(), None
            n += 1

    iterator = abreast.extract_many(endless(), workers=2)
    first = [next(iterator)["title"] for _ in range(10)]
    assert first == [str(n) for n in range(10)]
    # A window of four pages per worker ahead, not the whole (endless) input.
    assert taken <= 10 + 4 * 2 + 1
    iterator.close()
    assert list(iterator) == []


def test_extract_many_options_are_checked():
    with pytest.raises(ValueError, match="workers must be from 1 to 4096"):
        abreast.extract_many([], workers=0)
    with pytest.raises(TypeError, match="workers must be an int"):
        abreast.extract_many([], workers=2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        abreast.extract_many(42)  # type: ignore[arg-type]


def test_the_page_typeddict_names_fields_pages_have():
    assert set(abreast.Page.__annotations__) <= set(abreast.extract(HTML))


RICH = (
    '<html lang="fr"><head><meta charset="utf-8"><title> Rich &amp; page </title>'
    '<meta property="og:image" content="/a.jpg"><meta property="og:image:width" content="1200">'
    '<meta property="og:image" content="b.jpg"><meta name="twitter:card" content="summary">'
    '<link rel="icon" href="/i.png" sizes="32x32">'
    '<link rel="alternate" type="application/rss+xml" href="/feed" title="Feed">'
    '<script type="application/ld+json">{"@type":"Product","name":"\u00dcn\u00efc\u00f6d\u00e9",'
    '"offers":{"price":12.5,"count":3,"big":18446744073709551615,"neg":-7,"ok":true,"none":null,'
    '"list":[1,2.0,"x",[],{}]}}</script>'
    '<script type="application/ld+json">{broken</script>'
    "</head><body></body></html>"
).encode()


def test_dicts_are_what_the_command_lines_json_loads_as(tmp_path, cli):
    """The dict of a page equals json.loads of the command line's JSON for the same page, value
    for value and type for type (ints stay ints, 2.0 stays a float, true a bool)."""
    page_file = tmp_path / "rich.html"
    page_file.write_bytes(RICH)
    out = subprocess.run([cli, "extract", "--url", "https://example.com/p/", str(page_file)],
                         capture_output=True, check=True, timeout=120)
    expected = json.loads(out.stdout)
    for _ in range(2):  # the second conversion reuses the keys the first one made
        page = abreast.extract(RICH, url="https://example.com/p/")
        for field in ("title", "lang", "og", "twitter", "json_ld", "json_ld_errors", "icons",
                      "feeds", "alternates", "oembed", "robots", "preview"):
            assert page[field] == expected[field], field
    offers = page["json_ld"][0]["offers"]
    assert offers["big"] == 18446744073709551615 and type(offers["big"]) is int
    assert type(offers["price"]) is float and type(offers["list"][1]) is float
    assert offers["ok"] is True and offers["none"] is None
    assert offers["list"][3:] == [[], {}]
    assert page["meta"][0] == {"charset": "utf-8"}
    assert page["og"]["image"] == [
        {"url": "https://example.com/a.jpg", "width": "1200"},
        {"url": "https://example.com/p/b.jpg"},
    ]
