import hashlib

import pytest

from stages.core.errors import DataError, DownloadError
from stages.core.sources import expand_paths, fetch_url
from tests.conftest import serve_directory


@pytest.fixture
def served(tmp_path, monkeypatch):
    monkeypatch.setenv("REPROLAB_CACHE", str(tmp_path / "cache"))
    site = tmp_path / "site"
    site.mkdir()
    (site / "data.csv").write_text("a,b\n1,2\n")
    with serve_directory(site) as url:
        yield url, hashlib.sha256(b"a,b\n1,2\n").hexdigest(), site


def test_download_verified_and_cached(served):
    url, digest, site = served
    path = fetch_url(f"{url}/data.csv", digest, progress=False)
    assert path.read_text() == "a,b\n1,2\n"
    (site / "data.csv").unlink()  # second call is served from the cache
    assert fetch_url(f"{url}/data.csv", digest, progress=False) == path


def test_wrong_checksum_is_refused_and_not_kept(served, tmp_path):
    url, _, _ = served
    with pytest.raises(DownloadError, match="checksum mismatch"):
        fetch_url(f"{url}/data.csv", "0" * 64, retries=0, progress=False)
    assert not any(p.is_file() for p in (tmp_path / "cache").rglob("data.csv"))


def test_http_error_names_the_url(served):
    url, digest, _ = served
    with pytest.raises(DownloadError, match=r"missing.csv: HTTP error 404"):
        fetch_url(f"{url}/missing.csv", digest, retries=0, progress=False)


def test_expand_paths(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.wav").write_bytes(b"1")
    (tmp_path / "d" / "y.txt").write_bytes(b"1")
    assert expand_paths([str(tmp_path / "d")], (".wav",)) == [tmp_path / "d" / "x.wav"]
    with pytest.raises(DataError, match="no such file"):
        expand_paths([str(tmp_path / "nope")], (".wav",))
    with pytest.raises(DataError, match="holds no file"):
        expand_paths([str(tmp_path / "d")], (".flac",))


def test_timeout_is_reported(tmp_path, monkeypatch):
    """A server that accepts the connection but never answers in time."""
    import socket
    import threading

    monkeypatch.setenv("REPROLAB_CACHE", str(tmp_path / "cache"))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    conns = []
    threading.Thread(target=lambda: conns.append(sock.accept()), daemon=True).start()
    try:
        with pytest.raises(DownloadError, match=r"slow.csv: timed out after 0.5 s"):
            fetch_url(f"http://127.0.0.1:{sock.getsockname()[1]}/slow.csv", "0" * 64, retries=0, timeout=0.5, progress=False)
    finally:
        sock.close()


def _trickle_server(body: bytes, seconds_per_byte: float):
    """A server on 127.0.0.1 that promises ``body`` and sends it one byte at a time."""
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Trickle(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                for b in body:
                    self.wfile.write(bytes([b]))
                    self.wfile.flush()
                    time.sleep(seconds_per_byte)
            except OSError:  # the client gave up
                pass

        def log_message(self, format, *args):  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_trickling_server_hits_the_deadline_and_leaves_nothing(tmp_path, monkeypatch):
    """Each byte comes well within the read timeout, so only an overall deadline ends the download."""
    import time

    monkeypatch.setenv("REPROLAB_CACHE", str(tmp_path / "cache"))
    body = b"x" * 1000
    server = _trickle_server(body, 0.05)  # 50 s for the whole body; a read waits 0.05 s at most
    try:
        started = time.monotonic()
        with pytest.raises(DownloadError, match=r"trickle.csv: did not finish within the deadline of 1.5 s"):
            fetch_url(f"http://127.0.0.1:{server.server_address[1]}/trickle.csv", hashlib.sha256(body).hexdigest(),
                      retries=2, timeout=10, deadline=1.5, progress=False)
        assert time.monotonic() - started < 6  # not 3 x 50 s, and not retried once the time is spent
    finally:
        server.shutdown()
        server.server_close()
    assert [p for p in (tmp_path / "cache").rglob("*") if p.is_file()] == []  # no 0-byte or partial file


def test_partial_download_left_by_a_killed_run_is_removed(served, tmp_path):
    """A killed download leaves pooch's temporary (often 0 bytes); the next fetch of that file removes it."""
    url, digest, _ = served
    folder = tmp_path / "cache" / digest[:16]
    folder.mkdir(parents=True)
    (folder / "tmpk1ll3d").write_bytes(b"")
    (folder / "tmpk1ll3e").write_bytes(b"a,b\n")
    path = fetch_url(f"{url}/data.csv", digest, progress=False)
    assert sorted(p.name for p in folder.iterdir()) == [path.name]


def test_deadline_is_a_bounded_source_param():
    from pydantic import ValidationError

    from stages.core.params import SourceParams

    assert SourceParams().deadline_seconds == 600
    for bad in (0, -1, float("inf"), float("nan"), 10**9):
        with pytest.raises(ValidationError):
            SourceParams(deadline_seconds=bad)


def test_md5_checksum_accepted_and_checked(served):
    """Datasets that publish only an md5 (IMDb, CIFAR-10) are checked against it."""
    url, _, _ = served
    md5 = hashlib.md5(b"a,b\n1,2\n").hexdigest()
    assert fetch_url(f"{url}/data.csv", f"md5:{md5}", progress=False).read_text() == "a,b\n1,2\n"
    with pytest.raises(DownloadError, match="md5 is not"):
        fetch_url(f"{url}/data.csv", "md5:" + "0" * 32, retries=0, progress=False)


@pytest.mark.parametrize("checksum", ["md5:abc", "sha1:" + "0" * 40, "0" * 7])
def test_malformed_checksum_is_a_clear_error(served, checksum):
    url, _, _ = served
    with pytest.raises(DataError, match="expected 'sha256:"):
        fetch_url(f"{url}/data.csv", checksum, progress=False)


def _flaky_server(body: bytes, failures: int):
    """A server on 127.0.0.1 that answers 503 ``failures`` times, then ``body``; ``server.gets`` counts GETs."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Flaky(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            self.server.gets += 1
            if self.server.gets <= failures:
                self.send_error(503)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    server.gets = 0
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_a_transient_failure_is_retried_and_a_checksum_mismatch_is_not(tmp_path, monkeypatch):
    """A 503 is tried again (after 1 s); a wrong checksum fails at once, the file downloaded once."""
    import time

    monkeypatch.setenv("REPROLAB_CACHE", str(tmp_path / "cache"))
    body = b"a,b\n1,2\n"
    server = _flaky_server(body, failures=1)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/flaky.csv"
        assert fetch_url(url, hashlib.sha256(body).hexdigest(), retries=3, progress=False).read_bytes() == body
        assert server.gets == 2
        server.gets = 1  # past the failure: every GET now serves the body
        started = time.monotonic()
        with pytest.raises(DownloadError, match="checksum mismatch"):
            fetch_url(url.replace("flaky", "other"), "1" * 64, retries=3, progress=False)
        assert server.gets == 2 and time.monotonic() - started < 1  # one download, no waiting
    finally:
        server.shutdown()
        server.server_close()
