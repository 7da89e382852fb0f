"""abreast.fetch against the test site: the records, the faults, stopping, options, laziness."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from datetime import timedelta

import pytest

import abreast
from abreast.testing import TestSite

# A hang catcher only: every run here takes a few seconds at most on a quiet machine (the stall
# faults take their 3 s time limit).
HANG = 60


def without_timing(record: dict) -> dict:
    record = dict(record)
    record.pop("elapsed_ms")
    return record


def in_python_words(record: dict) -> dict:
    """A record of the command line, its message naming the keyword arguments of the same
    settings, as abreast.fetch's records do."""
    if record["error"]:
        message = record["error"]["message"]
        for flag, keyword in [("--timeout", "timeout"), ("--max-redirects", "max_redirects")]:
            message = message.replace(flag, keyword)
        record = {**record, "error": {**record["error"], "message": message}}
    return record


def fault_urls(site: TestSite, refused_url: str) -> list[str]:
    return [
        site.page_url(1),
        site.page_url(100_000),  # 404
        site.url("/fault/status/500"),
        site.url("/fault/status/404"),
        site.url("/fault/stall-headers"),
        site.url("/fault/stall?after=100"),
        site.url("/fault/reset"),
        site.url("/fault/close"),
        site.url("/fault/redirect-loop"),
        site.url("/fault/redirect/2?to=3"),
        site.url("/fault/redirect-to?url=ftp://example.invalid/"),
        site.url("/fault/bomb?encoding=gzip&size=64M"),
        site.url("/fault/huge?size=64M"),
        site.url("/fault/encoding/shift_jis?declare=meta"),
        site.url("/fault/invalid-bytes"),
        site.url("/fault/wrong-length"),
        site.url("/fault/empty"),
        site.url("/fault/compressed?encoding=br&page=2"),
        site.url("/fault/trickle?bytes_per_sec=100000&size=2K"),
        "not a url",
        "ftp://example.invalid/",
        refused_url,
    ]


FAULT_OPTIONS = dict(timeout=3.0, connect_timeout=3.0, retries=0, max_bytes=1 << 20, max_redirects=5)
FAULT_FLAGS = ["--timeout", "3s", "--connect-timeout", "3s", "--retries", "0", "--max-bytes", "1MiB", "--max-redirects", "5"]


def run_cli(cli: str, urls: list[str], flags: list[str]) -> list[dict]:
    done = subprocess.run(
        [cli, "fetch", "--ordered", *flags],
        input="\n".join(urls) + "\n",
        capture_output=True,
        text=True,
        timeout=HANG,
    )
    # 1 says that some URLs failed, which the fault URLs do.
    assert done.returncode in (0, 1), done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def test_records_equal_the_command_lines(site, cli, refused_url):
    urls = [site.page_url(n) for n in range(50)] + fault_urls(site, refused_url)
    expected = run_cli(cli, urls, FAULT_FLAGS)
    got = list(abreast.fetch(urls, ordered=True, **FAULT_OPTIONS))
    assert len(got) == len(urls)
    assert [without_timing(r) for r in got] == [without_timing(in_python_words(r)) for r in expected]


def test_processes_mode_records_equal_the_command_lines(site, cli, refused_url):
    # The worker processes are this interpreter again, loading abreast's module.
    urls = [site.page_url(n) for n in range(30)] + fault_urls(site, refused_url)
    expected = run_cli(cli, urls, [*FAULT_FLAGS, "--mode", "processes"])
    got = list(abreast.fetch(urls, mode="processes", ordered=True, **FAULT_OPTIONS))
    assert [without_timing(r) for r in got] == [without_timing(in_python_words(r)) for r in expected]


@pytest.mark.parametrize("mode", ["hybrid", "threads", "async", "processes"])
def test_every_mode_gives_the_same_records(site, mode):
    urls = list(site.page_urls(60))
    records = sorted(abreast.fetch(urls, mode=mode, jobs=16), key=lambda r: r["url"])
    assert [r["url"] for r in records] == sorted(urls)
    assert all(r["ok"] and r["status"] == 200 for r in records)
    titles = {r["url"]: r["title"] for r in records}
    assert titles[site.page_url(5)] == "Page 5"


def test_every_fault_is_a_record_never_an_exception(site, refused_url):
    urls = fault_urls(site, refused_url)
    records = {r["url"]: r for r in abreast.fetch(urls, **FAULT_OPTIONS)}
    assert set(records) == set(urls)

    def kind(url):
        record = records[url]
        assert record["ok"] is (record["error"] is None), record
        return record["error"]["kind"] if record["error"] else None

    assert kind(site.page_url(1)) is None
    assert records[site.page_url(1)]["title"] == "Page 1"
    assert kind(site.page_url(100_000)) == "status"
    assert records[site.page_url(100_000)]["status"] == 404
    assert kind(site.url("/fault/status/500")) == "status"
    assert kind(site.url("/fault/stall-headers")) == "timeout"
    assert kind(site.url("/fault/stall?after=100")) == "timeout"
    # The messages name the keyword argument that sets the limit.
    assert records[site.url("/fault/stall-headers")]["error"]["message"].startswith(
        "no complete answer within timeout (3 s), before the answer's head; a slow server needs a longer timeout"
    )
    assert kind(site.url("/fault/redirect-loop")) == "redirect"
    assert records[site.url("/fault/redirect-loop")]["error"]["message"] == (
        "too many redirects (more than 5, the max_redirects limit)"
    )
    assert kind(site.url("/fault/redirect/2?to=3")) is None
    assert records[site.url("/fault/redirect/2?to=3")]["final_url"] == site.page_url(3)
    assert kind(site.url("/fault/redirect-to?url=ftp://example.invalid/")) in ("redirect", "unsupported_scheme")
    assert kind("not a url") == "invalid_url"
    assert kind("ftp://example.invalid/") == "unsupported_scheme"
    assert kind(refused_url) == "connect"
    assert kind(site.url("/fault/reset")) is not None
    assert kind(site.url("/fault/close")) is not None
    assert kind(site.url("/fault/wrong-length")) is not None
    # Bounded: the bomb and the huge body are cut at max_bytes, not read whole.
    for url in (site.url("/fault/bomb?encoding=gzip&size=64M"), site.url("/fault/huge?size=64M")):
        assert records[url]["bytes"] <= 1 << 20
    assert records[site.url("/fault/encoding/shift_jis?declare=meta")]["charset"] == "Shift_JIS"
    assert records[site.url("/fault/compressed?encoding=br&page=2")]["title"] == "Page 2"
    assert kind(site.url("/fault/empty")) is None


def test_retries_and_headers(site):
    url = site.url("/fault/flaky/py-retry?fail=2&status=503")
    (record,) = abreast.fetch([url], retries=2, headers={"X-Test": "yes"})
    assert record["ok"] and record["attempts"] == 3
    assert site.flaky_attempts("py-retry") == 3


def test_head_only_and_max_bytes(site):
    (head,) = abreast.fetch([site.page_url(2)], head_only=True)
    assert head["title"] == "Page 2" and head["truncated"]
    (cut,) = abreast.fetch([site.page_url(2)], max_bytes=1000)
    assert cut["truncated"] and cut["bytes"] <= 1000


def test_extract_false_gives_the_fetch_fields_only(site):
    urls = [site.page_url(2), site.url("/fault/status/404")]
    for mode in ("hybrid", "threads", "async", "processes"):
        page, missing = abreast.fetch(urls, extract=False, ordered=True, mode=mode)
        full = next(iter(abreast.fetch(urls[:1])))
        assert page["ok"] and page["status"] == 200, mode
        assert page["bytes"] == full["bytes"] > 0, mode
        assert page["title"] is None and page["meta"] == [] and full["title"] == "Page 2", mode
        assert not missing["ok"] and missing["error"]["kind"] == "status", mode


def test_ordered_keeps_input_order(site):
    urls = [site.page_url(n) for n in range(100, 0, -1)]
    assert [r["url"] for r in abreast.fetch(urls, ordered=True, jobs=32)] == urls


def test_timedelta_and_rate(site):
    records = list(abreast.fetch(site.page_urls(3), timeout=timedelta(seconds=5), rate=1000.0))
    assert len(records) == 3 and all(r["ok"] for r in records)


def test_summary_after_the_run(site):
    run = abreast.fetch(list(site.page_urls(20)) + ["not a url"])
    assert run.summary is None
    records = list(run)
    assert len(records) == 21
    summary = run.summary
    assert summary["records"] == 21 and summary["ok"] == 20
    assert summary["failed"] == {"invalid_url": 1}


def thread_count() -> int:
    return len(os.listdir("/proc/self/task"))


def child_processes() -> list[int]:
    """The pids of this process's children, alive or zombie, from /proc."""
    me, found = os.getpid(), []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == me:
                found.append(int(name))
    return found


def wait_for(condition, what):
    deadline = time.monotonic() + HANG
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads through /proc")
@pytest.mark.parametrize("mode", ["hybrid", "processes"])
def test_breaking_out_stops_the_run_and_frees_its_threads(mode):
    with TestSite(pages=10_000, page_size=2048, latency=0.05) as slow:
        list(abreast.fetch(slow.page_urls(5)))  # warm: the first run starts shared state
        baseline = thread_count()
        assert child_processes() == []
        for record in abreast.fetch(slow.page_urls(10_000), mode=mode, jobs=32):
            assert record["ok"]
            break
        wait_for(lambda: thread_count() <= baseline, "the run's threads to end")
        wait_for(lambda: child_processes() == [], "the run's worker processes to end")
        # The run stopped: it did not go on to fetch the other pages.
        assert slow.requests < 5 + 1000


def test_close_and_context_manager(site):
    with abreast.fetch(site.page_urls(200), jobs=4) as run:
        first = next(run)
        assert first["ok"]
    assert list(run) == []
    # The counts of a run closed early have its time and latencies too.
    summary = run.summary
    assert summary["records"] >= 1 and summary["seconds"] > 0 and summary["p50_ms"] is not None
    run = abreast.fetch(site.page_urls(200))
    run.close()
    run.close()
    assert list(run) == []


@pytest.mark.parametrize("mode", ["hybrid", "threads", "async", "processes"])
def test_each_url_of_a_generator_is_fetched_before_the_next_is_asked_for(site, mode):
    # A crawler's generator waits for the records of the URLs it gave: none may be held back.
    seen = threading.Event()

    def crawl():
        yield site.page_url(1)
        if not seen.wait(HANG):
            raise AssertionError("the first URL's record never came while the generator waited")
        yield site.page_url(2)

    records = []
    for record in abreast.fetch(crawl(), mode=mode):
        records.append(record)
        seen.set()
    assert [record["ok"] for record in records] == [True, True]


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads through /proc")
@pytest.mark.parametrize("mode", ["hybrid", "threads", "async", "processes"])
def test_close_while_the_generator_waits_ends_with_its_call_and_frees_everything(site, mode):
    list(abreast.fetch(site.page_urls(5), mode=mode))  # warm: the first run starts shared state
    baseline = thread_count()
    inside = threading.Event()  # set while a call of the generator is under way

    def endless():
        yield site.page_url(1)
        while True:
            inside.set()
            try:
                time.sleep(0.05)
            finally:  # close() interrupts the generator (GeneratorExit) where it is
                inside.clear()
            yield site.page_url(2)

    run = abreast.fetch(endless(), mode=mode)
    assert next(run)["ok"]
    wait_for(inside.is_set, "the input thread to be in the generator")
    run.close()
    # close() waited for the generator's call under way.
    assert not inside.is_set()
    wait_for(lambda: thread_count() <= baseline, "the run's threads to end")
    wait_for(lambda: child_processes() == [], "the run's worker processes to end")


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads through /proc")
@pytest.mark.parametrize("mode", ["hybrid", "threads", "async", "processes"])
def test_breaking_out_while_a_crawler_s_generator_waits_for_a_record_interrupts_it(
    site, mode, waiting_crawler
):
    # The generator waits for the record of the URL it gave (a crawler), and the loop stops on
    # a failed one: the break ends the generator's wait (GeneratorExit where it is), not the
    # other way round.
    list(abreast.fetch(site.page_urls(5), mode=mode))  # warm: the first run starts shared state
    baseline = thread_count()
    got = set()
    crawl, state = waiting_crawler([site.page_url(1), site.url("/no/such/page"), site.page_url(2)], got)
    for record in abreast.fetch(crawl, mode=mode):
        if not record["ok"]:
            break
        got.add(record["url"])
    assert state == {"waited_out": False, "closed": True}
    wait_for(lambda: thread_count() <= baseline, "the run's threads to end")


def test_urls_are_read_lazily_with_flat_memory(site):
    taken = 0

    def generator():
        nonlocal taken
        for n in range(10_000_000):
            taken += 1
            yield site.page_url(n % 200)

    run = abreast.fetch(generator(), jobs=8)
    for count, record in enumerate(run, 1):
        assert record["ok"]
        if count == 500:
            break
    # Only a bounded window of the ten million URLs was read.
    assert taken < 50_000
    run.close()


def test_the_iterables_exception_comes_after_the_records_before_it(site):
    def failing():
        yield site.page_url(1)
        yield site.page_url(2)
        raise LookupError("no more URLs here")

    run = abreast.fetch(failing())
    records = []
    with pytest.raises(LookupError, match="no more URLs here"):
        for record in run:
            records.append(record)
    assert sorted(r["url"] for r in records) == [site.page_url(1), site.page_url(2)]


def test_a_url_that_is_not_a_str_raises_type_error(site):
    with pytest.raises(TypeError, match="URL 1 must be a str"):
        list(abreast.fetch([site.page_url(1), 42]))


def test_https_through_the_site_s_name_server_and_ca_with_h2_or_http1_1():
    with TestSite(pages=5, tls=True, dns=True) as site:
        host, port = site.dns_address
        urls = [site.https_url(f"/page/{n}", host=f"h{n}.site.test") for n in range(4)]
        # The site's name server as a socket address, as it gives it.
        options = dict(cacert=site.ca_file, dns_servers=[site.dns_address], mode="async")
        records = list(abreast.fetch(urls, **options))
        assert [r["http_version"] for r in records] == ["HTTP/2"] * 4, records
        records = list(abreast.fetch(urls, http1_1=True, **options))
        assert [r["http_version"] for r in records] == ["HTTP/1.1"] * 4
        untrusted = list(abreast.fetch(urls[:1], dns_servers=[f"{host}:{port}"]))
        assert untrusted[0]["error"]["kind"] == "tls"
        # In Python's words: the keyword arguments, not the command line's flags.
        message = untrusted[0]["error"]["message"]
        assert "unknown authority" in message
        assert "cacert=PATH" in message and "insecure=True" in message and "--" not in message


def test_record_messages_name_keyword_arguments_not_command_line_flags(site):
    # A URL longer than the threads mode's request buffer: its record says what to use instead.
    long = site.url("/page/1?" + "q" * 30_000)
    [record] = abreast.fetch([long], mode="threads")
    message = record["error"]["message"]
    assert 'mode="async" or "hybrid"' in message and "beside the headers" in message, message
    # (The workers of a broker job are the command line's: `abreast worker --mode async`.)
    assert "--mode async or" not in message and "-H" not in message


@pytest.mark.parametrize(
    "options, error, message",
    [
        (dict(dns_servers="127.0.0.1"), TypeError, "wrap it in a list"),
        (dict(dns_servers=["ns.example"]), ValueError, "not a name server address"),
        (dict(dns_servers=[]), ValueError, "dns_servers is empty: name at least one server"),
        (dict(dns_servers=["127.0.0.1:0"]), ValueError, "port 0, where no name server listens"),
        (dict(dns_servers=[("127.0.0.1", "53")]), TypeError, r"as str or \(host, port\)"),
        (dict(dns_servers=("127.0.0.1", 5353)), TypeError, "got a single tuple: wrap it in a list"),
        (dict(robots="maybe"), ValueError, "robots must be"),
        (dict(cacert="/nonexistent/ca.pem"), ValueError, "could not read '/nonexistent/ca.pem': No such file or directory$"),
        (dict(user_agent="   "), ValueError, "user_agent is blank"),
        (dict(headers={"User-Agent": " "}), ValueError, "headers: the User-Agent is blank"),
        (dict(user_agent="a\nb"), ValueError, "^user_agent: the User-Agent header cannot be sent"),
        (dict(user_agent="bot\x01"), ValueError, "^user_agent: .*control character 0x01"),
        (dict(headers={"X-A": "a\x7fb"}), ValueError, "^headers: the X-A header cannot be sent"),
    ],
)
def test_open_web_options_are_checked(site, options, error, message):
    with pytest.raises(error, match=message):
        abreast.fetch([site.page_url(1)], **options)


def test_bytes_in_any_encoding_are_lines_too(site):
    # A Latin-1 line gets its own record: raw bytes in the query are percent-encoded, a host
    # that is not UTF-8 is an invalid_url; the run goes on.
    urls = [site.page_url(1).encode() + b"?q=caf\xe9", b"http://caf\xe9.example/", site.page_url(2)]
    records = {r["url"]: r for r in abreast.fetch(urls, mode="async")}
    assert len(records) == 3
    encoded = records[site.page_url(1) + "?q=caf%E9"]
    assert encoded["ok"] and encoded["final_url"] == site.page_url(1) + "?q=caf%E9"
    assert records["http://caf%E9.example/"]["error"]["kind"] == "invalid_url"
    assert records[site.page_url(2)]["ok"]


@pytest.mark.parametrize(
    "options, error, message",
    [
        (dict(mode="fast"), ValueError, "mode must be one of hybrid, threads, async, processes"),
        (dict(mode=1), TypeError, "mode must be a str"),
        (dict(jobs=0), ValueError, "jobs must be from 1 to 100000, e.g. jobs=100"),
        (dict(jobs=2**32), ValueError, "jobs must be from 1 to 100000"),
        (dict(jobs="8"), TypeError, "jobs must be an int"),
        (dict(per_host=0), ValueError, "per_host must be from 1 to 10000"),
        (dict(per_host=10**6), ValueError, "per_host must be from 1 to 10000"),
        (dict(rate=0), ValueError, "rate must be more than 0"),
        (dict(rate=1e-300), ValueError, "rate must be at least 1e-06"),
        (dict(rate="fast"), TypeError, "rate must be requests per second"),
        (dict(timeout=0), ValueError, "timeout must be more than 0 seconds, e.g. timeout=30.0"),
        (dict(timeout=float("nan")), ValueError, "timeout must be more than 0"),
        (dict(timeout="30s"), TypeError, "timeout must be seconds"),
        (dict(connect_timeout=-1), ValueError, "connect_timeout must be more than 0"),
        (dict(retries=-1), ValueError, "retries must be from 0 to"),
        (dict(retries=2**32), ValueError, "retries must be from 0 to 4294967295"),
        (dict(max_redirects=2**32), ValueError, "max_redirects must be from 0 to 4294967295"),
        (dict(max_bytes=0), ValueError, "max_bytes must be from 1 to"),
        (dict(max_bytes=2**70), ValueError, "max_bytes must be from 1 to"),
        (dict(max_redirects=True), TypeError, "max_redirects must be an int"),
        (dict(headers="X: y"), TypeError, "headers must be a dict"),
        (dict(headers={"Bad Name": "v"}), ValueError, "not a valid header name"),
        (dict(headers={"X": "a\r\nb"}), ValueError, "line break"),
        (dict(head_only="yes"), TypeError, "head_only must be True or False"),
        (dict(extract=0), TypeError, "extract must be True or False"),
        (dict(head_only=True, extract=False), ValueError, "pass one or the other"),
        (dict(ordered=1), TypeError, "ordered must be True or False"),
        (dict(insecure=None), TypeError, "insecure must be True or False"),
    ],
)
def test_bad_options_raise_at_the_call(options, error, message):
    with pytest.raises(error, match=message):
        abreast.fetch(["http://127.0.0.1:9/"], **options)
    with pytest.raises(error, match=message):
        abreast.afetch(["http://127.0.0.1:9/"], **options)


def test_urls_must_be_an_iterable_of_urls():
    with pytest.raises(TypeError, match="wrap it in a list"):
        abreast.fetch("https://example.com/")
    with pytest.raises(TypeError, match="urls must be an iterable"):
        abreast.fetch(42)  # type: ignore[arg-type]


CTRL_C_CHILD = textwrap.dedent(
    """
    import os, signal, sys, time
    import abreast
    from abreast.testing import TestSite

    # Python leaves SIGINT ignored if it started ignored, as it does under a shell that runs
    # the tests in the background (`cmd &` without job control): take Ctrl-C as a terminal does.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def threads():
        return len(os.listdir("/proc/self/task"))

    def children():
        me, found = os.getpid(), 0
        for name in os.listdir("/proc"):
            try:
                with open(f"/proc/{name}/stat") as stat:
                    found += int(stat.read().rsplit(")", 1)[1].split()[1]) == me
            except (OSError, IndexError, ValueError):
                pass
        return found

    with TestSite(pages=100_000, page_size=2048, latency=0.2) as site:
        list(abreast.fetch(site.page_urls(3)))
        baseline = threads()
        try:
            for n, record in enumerate(abreast.fetch(site.page_urls(100_000), mode=sys.argv[1], jobs=64)):
                if n == 0:
                    print("running", flush=True)
        except KeyboardInterrupt:
            raised = time.monotonic()
            deadline = raised + 30
            while (threads() > baseline or children()) and time.monotonic() < deadline:
                time.sleep(0.01)
            print("interrupted", threads() - baseline, children(), flush=True)
            sys.exit(0)
    print("finished without an interrupt", flush=True)
    sys.exit(3)
    """
)


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads through /proc")
@pytest.mark.parametrize("mode", ["hybrid", "processes"])
def test_ctrl_c_raises_keyboard_interrupt_and_leaves_nothing_running(mode):
    child = subprocess.Popen(
        [sys.executable, "-c", CTRL_C_CHILD, mode], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "running"
        child.send_signal(2)  # SIGINT, as Ctrl-C sends
        out, err = child.communicate(timeout=HANG)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, err
    assert out.strip() == "interrupted 0 0", (out, err)


def test_the_record_typeddict_names_fields_records_have(site):
    (record,) = abreast.fetch([site.page_url(1)])
    assert set(abreast.Record.__annotations__) <= set(record)
    assert set(abreast.ErrorInfo.__annotations__) == {"kind", "message"}
