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
