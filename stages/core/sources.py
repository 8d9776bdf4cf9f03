"""Data sources: checksummed downloads (pooch) and the user's own files.

:func:`fetch_url` downloads a file once into a cache folder (``$REPROLAB_CACHE`` or the OS cache,
e.g. ``~/.cache/reprolab``), retries transient failures, and refuses a file whose sha256 differs
from the one given. Every failure becomes a :class:`DownloadError` that names the URL.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from urllib.parse import urlparse

from .errors import DataError, DownloadError

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """Where downloads are kept between runs (outside DVC's outputs)."""
    import pooch

    return Path(os.environ.get("REPROLAB_CACHE") or pooch.os_cache("reprolab"))


def fetch_url(url: str, sha256: str, *, retries: int = 3, timeout: float = 60.0, progress: bool = True) -> Path:
    """Download ``url`` (cached, checksum-verified) and return the local path.

    Args:
        url: http(s) or file URL.
        sha256: expected hex digest of the file's bytes.
        retries: extra attempts after a failed download (HTTP error, timeout, bad checksum).
        timeout: seconds before a stalled connection is given up.
        progress: show a tqdm progress bar.

    Raises:
        DownloadError: HTTP error, timeout or connection failure, or a checksum mismatch.
    """
    import pooch
    import requests

    name = Path(urlparse(url).path).name or "download"
    folder = cache_dir() / sha256[:16]  # one folder per content: two URLs with the same name never clash
    fetcher = pooch.create(
        path=folder,
        base_url="",
        registry={name: f"sha256:{sha256.lower()}"},
        urls={name: url},
        retry_if_failed=retries,
    )
    downloader = pooch.HTTPDownloader(progressbar=progress, timeout=timeout) if url.startswith("http") else None
    try:
        path = Path(fetcher.fetch(name, downloader=downloader))
    except ValueError as exc:  # pooch's checksum mismatch
        if "hash" in str(exc).lower():
            raise DownloadError(
                f"{url}: checksum mismatch: the downloaded file's sha256 is not {sha256}. "
                "The file changed upstream or the sha256 in params.yaml is wrong; nothing was written."
            ) from None
        raise DownloadError(f"{url}: {exc}") from None
    except requests.exceptions.Timeout:
        raise DownloadError(f"{url}: timed out after {timeout:g} s ({retries + 1} attempts)") from None
    except requests.exceptions.HTTPError as exc:
        raise DownloadError(f"{url}: HTTP error {exc.response.status_code} ({retries + 1} attempts)") from None
    except requests.exceptions.RequestException as exc:
        raise DownloadError(f"{url}: could not connect ({type(exc).__name__}: {exc})") from None
    log.info("%s: sha256 verified, cached at %s", url, path)
    return path


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
