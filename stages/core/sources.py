"""Data sources: checksummed downloads (pooch) and the user's own files.

:func:`fetch_url` downloads a file once into a cache folder (``$REPROLAB_CACHE`` or the OS cache,
e.g. ``~/.cache/reprolab``), retries transient failures (HTTP errors, timeouts, dropped connections),
and refuses a file whose sha256 differs from the one given, at once: the same URL gives the same
bytes again, so a mismatch (a file changed upstream, a wrong checksum in params.yaml) is not
downloaded again in full. The whole download, retries included, has a deadline: a server that trickles a
byte at a time is given up, not waited on forever. Every failure becomes a :class:`DownloadError`
that names the URL, and leaves no partial or empty file in the cache.
"""
from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

from .errors import DataError, DownloadError
from .io import sha256_file

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """Where downloads are kept between runs (outside DVC's outputs)."""
    import pooch

    return Path(os.environ.get("REPROLAB_CACHE") or pooch.os_cache("reprolab"))


class DeadlineExceeded(Exception):
    """The download's overall deadline passed (not retried: the time is spent)."""


class DeadlineDownloader:
    """A pooch downloader (http/https) that gives up when an overall deadline passes.

    ``requests``' timeout bounds each wait for the next bytes, so a server that sends one byte a
    second would never time out. Here the body is read with ``read1`` (whatever has arrived, at
    most 64 KiB) and the clock is checked after every read, so the download ends at most one read
    timeout after the deadline; the read timeout itself is capped at the time left.
    """

    def __init__(self, deadline_at: float, timeout: float, progress: bool):
        self.deadline_at, self.timeout, self.progress = deadline_at, timeout, progress

    def _left(self) -> float:
        left = self.deadline_at - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded
        return left

    def __call__(self, url: str, output_file, pooch=None, check_only: bool = False) -> None:  # noqa: ARG002
        import requests
        from tqdm import tqdm

        with requests.get(url, stream=True, timeout=min(self.timeout, self._left())) as response:
            response.raise_for_status()
            total = int(response.headers.get("content-length") or 0)
            with open(output_file, "wb") as f, tqdm(total=total or None, unit="B", unit_scale=True,
                                                    disable=not self.progress, leave=False) as bar:
                while chunk := _read1(response):
                    f.write(chunk)
                    bar.update(len(chunk))
                    self._left()


def _read1(response) -> bytes:
    """The next bytes of a streamed body, with urllib3's errors raised as requests' (as ``iter_content``
    does), so that pooch retries them and :func:`fetch_url` reports them."""
    import requests
    from urllib3 import exceptions as u3

    try:
        return response.raw.read1(1 << 16, decode_content=True)
    except u3.ReadTimeoutError as exc:
        raise requests.exceptions.ReadTimeout(exc) from None
    except (u3.ProtocolError, u3.IncompleteRead) as exc:
        raise requests.exceptions.ChunkedEncodingError(exc) from None
    except u3.DecodeError as exc:
        raise requests.exceptions.ContentDecodingError(exc) from None


@contextlib.contextmanager
def locked_folder(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (flock on the folder itself, so no lock file is left).

    The download cache is shared by every checkout on the machine; the lock lets one process at a
    time download a given file, so the one holding it may delete temporaries that a killed download
    left there without touching a download in progress.
    """
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def remove_partial_downloads(folder: Path, keep: str) -> None:
    """Delete everything in a content folder but the finished file ``keep`` (pooch's ``tmp*`` left by
    a killed download, 0 bytes or partial). Call only while holding :func:`locked_folder`."""
    for entry in folder.iterdir():
        if entry.name != keep and entry.is_file():
            log.info("%s: removing a partial download left by an earlier run", entry)
            entry.unlink()


def split_checksum(checksum: str) -> tuple[str, str]:
    """``"sha256:<hex>"``, ``"md5:<hex>"`` or a bare sha256 hex digest → ``(algorithm, hex)``.

    md5 is accepted because some datasets publish nothing else (IMDb, CIFAR-10); it still catches a
    truncated or swapped file, which is what the check is for here. A sha256 *prefix* of 8 to 63 hex
    digits is accepted as well, because torchvision publishes only that for its weights
    (``vgg16-397923af.pth``) and checks the same prefix itself.

    Raises:
        DataError: an unknown algorithm or a digest of the wrong length.
    """
    alg, _, digest = checksum.rpartition(":")
    alg, digest = (alg or "sha256").lower(), digest.lower()
    pattern = {"sha256": "[0-9a-f]{8,64}", "md5": "[0-9a-f]{32}"}.get(alg)
    if pattern is None or not re.fullmatch(pattern, digest):
        raise DataError(f"checksum {checksum!r}: expected 'sha256:<64 hex digits>' or 'md5:<32 hex digits>'")
    return alg, digest


def fetch_url(url: str, checksum: str, *, retries: int = 3, timeout: float = 60.0, deadline: float = 600.0,
              progress: bool = True) -> Path:
    """Download ``url`` (cached, checksum-verified) and return the local path.

    Args:
        url: http(s) or file URL.
        checksum: expected checksum of the file's bytes: a sha256 hex digest, or ``"sha256:<hex>"`` /
            ``"md5:<hex>"`` (:func:`split_checksum`).
        retries: extra attempts after a transient failure (HTTP error, timeout, dropped connection),
            1, 2, 3… s apart; a checksum mismatch is final.
        timeout: seconds before a stalled connection is given up (each wait for data).
        deadline: seconds for the whole download, retries included (a source's ``deadline_seconds``).
        progress: show a tqdm progress bar.

    Raises:
        DownloadError: HTTP error, timeout or connection failure, deadline passed, or a checksum
            mismatch. No partial or empty file is left in the cache.
    """
    import pooch
    import requests

    alg, digest = split_checksum(checksum)
    name = Path(urlparse(url).path).name or "download"
    folder = cache_dir() / digest[:16]  # one folder per content: two URLs with the same name never clash
    folder.mkdir(parents=True, exist_ok=True)
    fetcher = pooch.create(
        path=folder,
        base_url="",
        # pooch checks whole digests; a sha256 prefix is checked below, after the download
        registry={name: f"{alg}:{digest}" if alg == "md5" or len(digest) == 64 else None},
        urls={name: url},
        retry_if_failed=0,  # pooch would retry a checksum mismatch too; transient failures are retried below
    )
    start = time.monotonic()
    downloader = DeadlineDownloader(start + deadline, timeout, progress) if url.startswith("http") else None
    try:
        with locked_folder(folder):
            path = _fetch_retrying(fetcher, name, downloader, folder, retries)
            if alg == "sha256" and len(digest) < 64 and not sha256_file(path).startswith(digest):
                path.unlink()
                raise ValueError("hash mismatch (prefix)")
    except DeadlineExceeded:
        raise DownloadError(
            f"{url}: did not finish within the deadline of {deadline:g} s (deadline_seconds); "
            f"the server is too slow or stalled. Nothing was kept."
        ) from None
    except ValueError as exc:  # pooch's checksum mismatch
        if "hash" in str(exc).lower():
            raise DownloadError(
                f"{url}: checksum mismatch: the downloaded file's {alg} is not {digest}. "
                "The file changed upstream or the sha256 in params.yaml is wrong; nothing was written."
            ) from None
        raise DownloadError(f"{url}: {exc}") from None
    except requests.exceptions.Timeout:
        raise DownloadError(f"{url}: timed out after {timeout:g} s ({retries + 1} attempts)") from None
    except requests.exceptions.HTTPError as exc:
        raise DownloadError(f"{url}: HTTP error {exc.response.status_code} ({retries + 1} attempts)") from None
    except requests.exceptions.RequestException as exc:
        raise DownloadError(f"{url}: could not connect ({type(exc).__name__}: {exc})") from None
    log.info("%s: %s verified, cached at %s", url, alg, path)
    return path


def _fetch_retrying(fetcher, name: str, downloader, folder: Path, retries: int) -> Path:
    """``fetcher.fetch(name)``, again after a transient failure (pooch's waits: 1, 2, 3… s, at most 10).
    A checksum mismatch (pooch's ``ValueError``) and a passed deadline (:class:`DeadlineExceeded`, from
    the downloader) are raised at once. Call only while holding :func:`locked_folder`."""
    import requests

    for attempt in range(retries + 1):
        remove_partial_downloads(folder, keep=name)
        try:
            return Path(fetcher.fetch(name, downloader=downloader))
        except requests.exceptions.RequestException:
            wait = min(attempt + 1, 10)
            if attempt == retries:
                raise
            log.info("%s: download failed, trying again in %d s (%d attempt(s) left)", name, wait, retries - attempt)
            time.sleep(wait)
    raise AssertionError("unreachable")  # the loop returns or raises


def expand_paths(entries: list[str], suffixes: tuple[str, ...]) -> list[Path]:
    """Expand files and folders into a sorted list of files whose suffix is in ``suffixes``.

    Raises:
        DataError: an entry does not exist, or a folder holds no matching file.
    """
    files: list[Path] = []
    for entry in entries:
        p = Path(entry).expanduser()
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in suffixes)
            if not found:
                raise DataError(f"{p}: folder holds no file ending in {', '.join(suffixes)}")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise DataError(f"{p}: no such file or folder")
    return files
