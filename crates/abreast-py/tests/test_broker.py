"""abreast.fetch(urls, broker=..., job=...) and afetch: a job on a real redis-server (started
here on a free port in a temporary folder; a machine without one fails these tests, saying to
install it), served by `abreast worker` processes of the CLI, collected from Python."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

import abreast


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed: the broker tests need it (apt-get install redis-server)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folder = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.02)
    yield f"redis://127.0.0.1:{port}"
    process.kill()
    process.wait()


@pytest.fixture(scope="module")
def worker(cli, redis_url, tmp_path_factory):
    log = tmp_path_factory.mktemp("worker") / "stderr"
    with open(log, "w") as stderr:
        process = subprocess.Popen(
            [cli, "worker", "--broker", redis_url, "--mode", "async", "-j", "8"],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    yield process
    process.kill()
    process.wait()


def test_a_job_collected_from_python_has_one_record_per_url(site, redis_url, worker):
    urls = [site.url(f"/page/{n}") for n in range(20)] + ["not a url", site.url("/page/3")]
    records = list(abreast.fetch(iter(urls), broker=redis_url, job="py-sync", per_host=4))
    assert Counter(r["url"] for r in records) == Counter(urls)
    by_url = {r["url"]: r for r in records}
    assert by_url[site.url("/page/5")]["ok"] and by_url[site.url("/page/5")]["title"] == "Page 5"
    assert by_url["not a url"]["error"]["kind"] == "invalid_url"
    # The same records as a plain fetch, key for key.
    plain = {r["url"]: r for r in abreast.fetch([site.url("/page/5")])}
    assert set(plain[site.url("/page/5")]) == set(by_url[site.url("/page/5")])
    # Again: nothing added, nothing left to collect.
    assert list(abreast.fetch(urls, broker=redis_url, job="py-sync", per_host=4)) == []
    with pytest.raises(abreast.FetchError, match="another input") as error:
        list(abreast.fetch(urls[:5], broker=redis_url, job="py-sync", per_host=4))
    # In Python's words: the keyword argument, not the command line's flag.
    assert "pick another job name" in str(error.value) and "--job" not in str(error.value)


def test_a_byte_order_mark_before_the_first_url_is_dropped_as_in_a_local_run(site, redis_url, worker):
    urls = ["\ufeff" + site.url("/page/7"), site.url("/page/8").encode()]
    records = list(abreast.fetch(urls, broker=redis_url, job="py-bom"))
    assert sorted(r["url"] for r in records) == [site.url("/page/7"), site.url("/page/8")]
    assert all(r["ok"] for r in records), records


def test_the_iterables_own_exception_is_raised_as_a_local_run_raises_it(site, redis_url, worker):
    class Broken(Exception):
        pass

    def urls():
        yield site.url("/page/1")
        raise Broken("the list ended badly")

    with pytest.raises(Broken, match="the list ended badly"):
        list(abreast.fetch(urls(), broker=redis_url, job="py-broken"))


def test_a_crawler_s_generator_gets_each_record_before_it_yields_the_next_url(site, redis_url, worker):
    # The generator waits for the record of each URL it gave (as a crawler waits for a page's
    # links): its URLs go to the broker as it yields them, and their records come back while
    # it still runs.
    got = []

    def crawl():
        for n in range(3):
            yield site.url(f"/page/{90 + n}")
            deadline = time.monotonic() + 60
            while len(got) <= n:
                assert time.monotonic() < deadline, "the record never came while the generator waited"
                time.sleep(0.01)

    run = abreast.fetch(crawl(), broker=redis_url, job="py-crawl")
    for record in run:
        got.append(record)
    assert [r["url"] for r in got] == [site.url(f"/page/{90 + n}") for n in range(3)]


@pytest.mark.parametrize("asynchronous", [False, True])
def test_breaking_out_while_a_crawler_s_generator_waits_for_a_record_interrupts_it(
    site, redis_url, worker, asynchronous, waiting_crawler
):
    # As in a local run: the break ends the generator's wait, and the event loop goes on.
    got = set()
    crawl, state = waiting_crawler([site.url("/page/95"), site.url("/no/such/page"), site.url("/page/96")], got)
    job = f"py-crawl-break-{asynchronous}"
    if asynchronous:

        async def main():
            async for record in abreast.afetch(crawl, broker=redis_url, job=job):
                if not record["ok"]:
                    break
                got.add(record["url"])

        asyncio.run(main())
    else:
        for record in abreast.fetch(crawl, broker=redis_url, job=job):
            if not record["ok"]:
                break
            got.add(record["url"])
    assert state == {"waited_out": False, "closed": True}
    # The job was not sealed short: its name, given another first URL, is refused at once.
    with pytest.raises(abreast.FetchError, match="its first line is not this one"):
        list(abreast.fetch(iter([site.url("/page/97")]), broker=redis_url, job=job))


def test_a_second_run_of_a_job_never_mixes_its_input_into_the_first_s(site, redis_url, worker, capfd):
    # The first run's generator has given 3 URLs and waits to give its fourth; a second run
    # whose input begins with those and has more waits for the first to end, which then has its
    # own records alone, and the second is told that the job holds another input.
    urls = [site.url(f"/page/{n}") for n in range(120, 125)]
    job = "py-two-runs"
    go_on = threading.Event()

    def producer():
        yield from urls[:3]
        assert go_on.wait(60), "the test never let the first run go on"
        yield urls[3]

    first = abreast.fetch(producer(), broker=redis_url, job=job)
    got = [next(first) for _ in range(3)]
    second_error = []

    def second_run():
        try:
            list(abreast.fetch(urls, broker=redis_url, job=job))
        except abreast.FetchError as error:
            second_error.append(error)

    second = threading.Thread(target=second_run)
    second.start()
    said = ""
    deadline = time.monotonic() + 60
    while f"another run is collecting job {job}" not in said:
        assert time.monotonic() < deadline, f"the second run never said that it waits: {said!r}"
        said += capfd.readouterr().err
        time.sleep(0.01)
    go_on.set()
    got += list(first)
    second.join(60)
    assert not second.is_alive()
    assert sorted(r["url"] for r in got) == sorted(urls[:4])
    assert len(second_error) == 1
    assert "another input (it has 4 lines and this input has more)" in str(second_error[0])


def test_afetch_collects_a_job(site, redis_url, worker):
    urls = [site.url(f"/page/{n}") for n in range(30, 45)]

    async def collect():
        return [record async for record in abreast.afetch(urls, broker=redis_url, job="py-async")]

    records = asyncio.run(collect())
    assert sorted(r["url"] for r in records) == sorted(urls)
    assert all(r["ok"] for r in records)


def test_a_record_taken_is_not_given_again_and_the_rest_are(site, redis_url, worker):
    urls = [site.url(f"/page/{n}") for n in range(50, 80)]
    run = abreast.fetch(urls, broker=redis_url, job="py-resume")
    first = [next(run)]
    run.close()
    rest = list(abreast.fetch(urls, broker=redis_url, job="py-resume"))
    assert Counter(r["url"] for r in first + rest) == Counter(urls)


def test_bad_options_raise_and_hide_the_password(redis_url):
    with pytest.raises(ValueError) as error:
        abreast.fetch(["http://a.test/"], broker="http://:s3cret@127.0.0.1/", job="x")
    assert "s3cret" not in str(error.value)
    with pytest.raises(ValueError, match="job name"):
        abreast.fetch(["http://a.test/"], broker=redis_url, job="a b")
    with pytest.raises(ValueError, match="each worker's own"):
        abreast.fetch(["http://a.test/"], broker=redis_url, job="x", mode="threads")
    with pytest.raises(TypeError):
        abreast.fetch(["http://a.test/"], broker=redis_url)


class RestartableRedis:
    """A redis-server with AOF on a free port in `folder`, which a test can restart."""

    def __init__(self, folder: Path):
        self.server = shutil.which("redis-server")
        if self.server is None:
            pytest.fail("redis-server is not installed: the broker tests need it (apt-get install redis-server)")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.folder = folder
        self.url = f"redis://127.0.0.1:{self.port}"
        self.process = None
        self.start()

    def start(self):
        self.process = subprocess.Popen(
            [self.server, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
             "--save", "", "--appendonly", "yes", "--appendfsync", "always"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.02)

    def restart(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as connection:
            connection.sendall(b"SHUTDOWN\r\n")
        self.process.wait(timeout=20)
        self.start()

    def stop(self):
        self.process.kill()
        self.process.wait()


def test_a_submission_the_broker_interrupted_starts_again_and_loses_nothing(site, cli, tmp_path, capfd):
    redis = RestartableRedis(tmp_path)
    worker = subprocess.Popen(
        [cli, "worker", "--broker", redis.url, "--mode", "async", "-j", "8"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wanted = [site.url(f"/page/{n}") for n in range(40)]

        def urls():
            yield from wanted[:20]
            # The job exists and its first URLs were read: the broker goes away under them.
            redis.restart()
            yield from wanted[20:]

        records = list(abreast.fetch(urls(), broker=redis.url, job="py-restart", per_host=4))
        assert Counter(r["url"] for r in records) == Counter(wanted)
        assert "submitting again" in capfd.readouterr().err
    finally:
        worker.kill()
        worker.wait()
        redis.stop()


def test_close_ends_a_wait_on_a_broker_that_never_answers(capfd):
    # A broker that takes the connection and never answers (a stopped redis-server, or another
    # server on its port): close() drops the call under way rather than waiting until its own
    # time limit says the broker "cannot be reached".
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(60)
        url = f"redis://127.0.0.1:{listener.getsockname()[1]}"
        run = abreast.fetch(["http://127.0.0.1:9/"], broker=url, job="silent")
        held, _ = listener.accept()
        with held:
            run.close()
    assert "cannot be reached" not in capfd.readouterr().err
