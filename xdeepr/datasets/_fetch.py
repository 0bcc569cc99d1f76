"""Download registered data files with pooch: verified, cached, opened.

Over 400 lines because download, verification before caching, healing of a damaged
cached file and the error messages that say what to do are one flow.

The registry is ``registry.txt`` next to this module, in pooch's format: one file
a line, ``name hash url`` (``#`` starts a comment). A hash of ``none`` means "not
pinned yet": the file is downloaded without a hash check and :func:`fetch` warns,
printing the SHA256 it got so a maintainer can pin it.

Nothing unverified enters the cache: a download goes to a temporary file beside
its cache path and is moved there only once it has the pinned hash (when one is
pinned), opens as a zip archive (for ``.zip``) and is not an HTML page. A cached
file that fails these checks or does not open is removed and downloaded once
more; what still fails raises :class:`~xdeepr.errors.DataFetchError`, naming the
cache path, the URL and what to do.

Environment variables, read at each call (never at import):

``XDEEPR_DATA_DIR``
    Cache directory (default: ``pooch.os_cache("xdeepr")``).
``XDEEPR_DATA_MIRROR``
    Base URL of a mirror; when set, every file is fetched from ``{mirror}/{name}``
    instead of its registered URL.
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xdeepr.errors import DataFetchError

if TYPE_CHECKING:  # pooch is imported lazily, when something is fetched
    import pooch

__all__ = ["DataFetchError", "DataHashError", "fetch"]

_REGISTRY_FILE = Path(__file__).with_name("registry.txt")
_UNPINNED = frozenset({"none", "null", "-"})  # registry hash meaning "not pinned yet"
# Used only for entries without a URL column, when no mirror is set.
_DEFAULT_BASE_URL = "https://github.com/xdeepr/xdeepr-data/raw/main/"
_ENV_DIR = "XDEEPR_DATA_DIR"
_ENV_MIRROR = "XDEEPR_DATA_MIRROR"


class DataHashError(DataFetchError, ValueError):
    """A downloaded file does not have the hash pinned in the registry.

    A :class:`~xdeepr.errors.DataFetchError` (an :class:`OSError`) and, as before,
    a :class:`ValueError`.
    """


def _read_registry(path: str | os.PathLike[str]) -> tuple[dict[str, str | None], dict[str, str]]:
    """Parse a registry file into ``({name: hash or None}, {name: url})``."""
    hashes: dict[str, str | None] = {}
    urls: dict[str, str] = {}
    with open(path, encoding="utf-8") as fin:
        for lineno, line in enumerate(fin, start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            fields = shlex.split(line)
            if len(fields) not in (2, 3):
                raise ValueError(
                    f"invalid entry on line {lineno} of the data registry {path}: expected"
                    f" 'name hash [url]', got {line!r}"
                )
            name, known = fields[0], fields[1].lower()
            hashes[name] = None if known in _UNPINNED else known
            if len(fields) == 3:
                urls[name] = fields[2]
    return hashes, urls


def _make_pooch(
    registry: Mapping[str, str | None],
    urls: Mapping[str, str],
    base_url: str = _DEFAULT_BASE_URL,
) -> pooch.Pooch:
    """Build the Pooch, honouring ``XDEEPR_DATA_DIR`` and ``XDEEPR_DATA_MIRROR`` now."""
    import pooch

    mirror = os.environ.get(_ENV_MIRROR, "").strip()
    if mirror:  # every file from {mirror}/{name}
        base_url, urls = mirror.rstrip("/") + "/", {}
    return pooch.create(
        path=pooch.os_cache("xdeepr"),
        base_url=base_url,
        env=_ENV_DIR,
        registry=dict(registry),
        urls=dict(urls),
    )


def _registry() -> pooch.Pooch:
    """The Pooch over ``registry.txt``, built afresh so environment changes apply."""
    return _make_pooch(*_read_registry(_REGISTRY_FILE))


# --- openers: turn what pooch returns (a path, or a list of paths) into data -------


def _open_netcdf(path: str | list[str]) -> Any:
    import xarray as xr

    return xr.open_dataset(path if isinstance(path, str) else path[0])


def _open_deepr_archive(paths: str | list[str]) -> tuple[Any, Any]:
    """Open DeepR's test archive as ``(features, labels)``."""
    import xarray as xr

    files = [Path(p) for p in ([paths] if isinstance(paths, str) else paths)]
    result = []
    for part in ("features", "labels"):
        found = sorted(str(f) for f in files if f.suffix == ".nc" and part in f.parent.parts)
        if not found:
            raise OSError(
                f"the archive holds no {part}/*.nc file; found: {[str(f) for f in files]}"
            )
        result.append(xr.open_mfdataset(found, combine="by_coords"))
    return result[0], result[1]


def _processor(name: str) -> Callable[..., Any] | None:
    import pooch

    if name.endswith(".zip"):
        return pooch.Unzip()
    return None


def _opener(name: str) -> Callable[[Any], Any]:
    special: dict[str, Callable[[Any], Any]] = {"deepr-test-data.zip": _open_deepr_archive}
    if name in special:
        return special[name]
    if name.endswith(".nc"):
        return _open_netcdf
    return lambda path: path  # anything else: the path(s) themselves


# --- download, verify, cache ------------------------------------------------------


class _Rejected(Exception):
    """Internal: a file's content is not the registered file (never escapes this module)."""

    def __init__(self, reason: str, *, actual_hash: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.actual_hash = actual_hash


def _extract_dir(path: Path) -> Path:
    """Where :class:`pooch.Unzip` extracts ``path`` (its default, ``{path}.unzip``)."""
    return path.with_name(path.name + ".unzip")


def _discard(path: Path) -> None:
    """Remove a cached file and what was extracted from it, if anything."""
    path.unlink(missing_ok=True)
    shutil.rmtree(_extract_dir(path), ignore_errors=True)


def _looks_like_html(path: Path) -> bool:
    """Whether the file starts like an HTML page (a login, error or "moved" page)."""
    with open(path, "rb") as fin:
        head = fin.read(1024).lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in head


def _verify(path: Path, name: str, known_hash: str | None, *, thorough: bool) -> None:
    """Check that ``path`` holds the registered file `name`.

    Parameters
    ----------
    path : pathlib.Path
        The local file to check.
    name : str
        Its registry name; a ``.zip`` must open as a zip archive.
    known_hash : str or None
        The pinned hash (``[alg:]hexdigest``), or None when not pinned.
    thorough : bool
        Also test every archive member's CRC (for a fresh download); otherwise
        only the archive's directory is read.

    Raises
    ------
    _Rejected
        With the reason, and the hash found when it differs from the pinned one.
    """
    import pooch

    if known_hash is not None:
        alg = pooch.hashes.hash_algorithm(known_hash)
        actual = pooch.file_hash(str(path), alg=alg)
        if actual != known_hash.split(":")[-1]:
            reason = f"its {alg} is {actual}, not the registered {known_hash}"
            if _looks_like_html(path):
                reason += " (it is an HTML page, not the file)"
            raise _Rejected(reason, actual_hash=f"{alg}:{actual}")
    if name.endswith(".zip"):
        try:
            with zipfile.ZipFile(path) as archive:
                damaged = archive.testzip() if thorough else None
        except (zipfile.BadZipFile, OSError, EOFError) as err:
            what = "an HTML page" if _looks_like_html(path) else "damaged or not a zip archive"
            raise _Rejected(f"it is {what} ({type(err).__name__}: {err})") from err
        if damaged is not None:
            raise _Rejected(f"the archive member {damaged!r} is damaged (bad CRC)")
    elif not name.endswith((".html", ".htm")) and _looks_like_html(path):
        raise _Rejected("it is an HTML page, not the file")


def _is_network_error(err: BaseException) -> bool:
    """Whether `err` means the server could not be reached or stopped answering."""
    import requests

    network = (
        requests.exceptions.ConnectionError,
        requests.exceptions.Timeout,
        requests.exceptions.ChunkedEncodingError,
        ConnectionError,
        TimeoutError,
        socket.gaierror,
    )
    return isinstance(err, network)


def _mirror_hint(name: str) -> str:
    mirror = os.environ.get(_ENV_MIRROR, "").strip()
    now = f" (now {mirror!r})" if mirror else ""
    return f"set {_ENV_MIRROR}{now} to a mirror that serves it as {{mirror}}/{name}"


def _download(
    pup: pooch.Pooch, name: str, url: str, path: Path, known_hash: str | None, progress: bool
) -> None:
    """Download `url` to a temporary file beside `path`, verify it, then move it to `path`.

    Nothing reaches `path` unless it passed :func:`_verify`; the temporary file is
    always removed.

    Raises
    ------
    DataHashError
        The download does not have the pinned hash.
    DataFetchError
        The download failed, or its content is not the file (for instance an HTML page).
    """
    import pooch

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        os.close(fd)
    except OSError as err:
        raise DataFetchError(
            f"could not download {name!r}: cannot write to the cache directory"
            f" {path.parent} ({err}). Set {_ENV_DIR} to a writable directory."
        ) from err
    tmp = Path(tmp_name)
    try:
        try:
            pooch.downloaders.choose_downloader(url, progressbar=progress)(url, tmp_name, pup)
        except Exception as err:
            if _is_network_error(err):
                advice = f"Check the network (and any proxy settings), or {_mirror_hint(name)}."
            else:
                advice = (
                    f"The file is not available at that address: {_mirror_hint(name)}, fix"
                    " its URL in xdeepr/datasets/registry.txt, or put the file at"
                    f" {path} yourself."
                )
            raise DataFetchError(
                f"could not download {name!r} from {url} into {path}: {err}. {advice}"
            ) from err
        try:
            _verify(tmp, name, known_hash, thorough=True)
        except _Rejected as bad:
            if bad.actual_hash is not None:
                raise DataHashError(
                    f"the download of {name!r} from {url} is corrupted or the file has"
                    f" changed: expected {known_hash} but got {bad.actual_hash}"
                    f"{' (an HTML page)' if _looks_like_html(tmp) else ''}. The bad copy was"
                    f" deleted and nothing was cached at {path}. Retry"
                    f" xdeepr.datasets.fetch({name!r}); if it fails again, the file on the"
                    f" server differs from the registered one: {_mirror_hint(name)}, or"
                    " update the hash in xdeepr/datasets/registry.txt once the file is"
                    " checked."
                ) from None
            raise DataFetchError(
                f"the download of {name!r} from {url} is not the registered file:"
                f" {bad.reason}. It was deleted and nothing was cached at {path}."
                f' The server answered with something else (a login, error or "moved"'
                f" page?): {_mirror_hint(name)}, or download the file yourself and put it"
                f" at {path}."
            ) from None
        shutil.rmtree(_extract_dir(path), ignore_errors=True)  # stale, from an older copy
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _open_cached(pup: pooch.Pooch, name: str, path: Path, action: str) -> Any:
    """Run the processor (``action`` as pooch names it) and the opener on a cached file."""
    processor = _processor(name)
    processed = processor(str(path), action, pup) if processor is not None else str(path)
    return _opener(name)(processed)


# Errors that mean a (cached or fresh) file does not open: its content is bad.
_OPEN_ERRORS: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile,
    OSError,
    ValueError,
    EOFError,
    KeyError,
    RuntimeError,
)
# ... and, for a cached file, also failing the checks a download passes.
_CACHE_ERRORS: tuple[type[BaseException], ...] = (_Rejected, *_OPEN_ERRORS)


def _fetch_with(pup: pooch.Pooch, name: str, *, progress: bool = False) -> Any:
    """Fetch `name` through `pup`, check it, and open it.

    A cached copy is used when it passes the checks and opens; otherwise it is
    removed and downloaded once more. A download is verified before it is moved
    into the cache.
    """
    import pooch

    if name not in pup.registry:
        known = ", ".join(sorted(pup.registry)) or "(none)"
        raise ValueError(f"unknown dataset {name!r}; the registry knows: {known}")
    known_hash = pup.registry[name]
    url = pup.get_url(name)
    path = Path(pup.abspath) / name
    result: Any = None
    opened = False
    if path.is_file():
        try:
            _verify(path, name, known_hash, thorough=False)
            result, opened = _open_cached(pup, name, path, "fetch"), True
        except _CACHE_ERRORS as err:
            reason = err.reason if isinstance(err, _Rejected) else f"{type(err).__name__}: {err}"
            _discard(path)
            warnings.warn(
                f"the cached copy of {name!r} at {path} was damaged or is not the registered"
                f" file ({reason}); it was removed and is downloaded again from {url}.",
                UserWarning,
                stacklevel=3,
            )
    if not opened:
        _download(pup, name, url, path, known_hash, progress)
        try:
            result = _open_cached(pup, name, path, "download")
        except _OPEN_ERRORS as err:
            _discard(path)
            raise DataFetchError(
                f"{name!r}, downloaded from {url}, passed its checks but does not open:"
                f" {type(err).__name__}: {err}. It was removed from the cache ({path})."
                f" If the error names a missing library, install it; otherwise the file on"
                f" the server is not the expected one: {_mirror_hint(name)}, or put a good"
                f" copy at {path}."
            ) from err
    if known_hash is None:
        actual = pooch.file_hash(str(path))
        warnings.warn(
            f"the hash of {name!r} is not pinned in xdeepr's registry yet, so the download"
            f" was not verified by hash. The file in the cache ({path}) has"
            f" sha256:{actual}; pin it in xdeepr/datasets/registry.txt once checked.",
            UserWarning,
            stacklevel=3,
        )
    return result


def fetch(name: str, *, progress: bool = False) -> object:
    """Download a registered data file (once), check its hash and open it.

    Files are cached under ``pooch.os_cache("xdeepr")`` or ``$XDEEPR_DATA_DIR``
    and only downloaded when missing, changed or damaged. A download enters the
    cache only once verified: the pinned hash when the registry has one, and for a
    ``.zip`` that it opens as a zip archive (an HTML page is never cached). A
    cached copy that fails these checks or does not open is removed and
    downloaded once more, with a warning. When ``$XDEEPR_DATA_MIRROR`` is
    set, every file is downloaded from ``{mirror}/{name}`` instead of its
    registered URL.

    Parameters
    ----------
    name : str
        A name from the registry (``xdeepr/datasets/registry.txt``), for instance
        ``"deepr-test-data.zip"``.
    progress : bool, default False
        Show a download progress bar (needs tqdm).

    Returns
    -------
    object
        What the file opens to: ``(features, labels)`` datasets for
        ``"deepr-test-data.zip"``, an :class:`xarray.Dataset` for a ``.nc`` file,
        the list of extracted paths for another ``.zip``, and the local path
        otherwise.

    Raises
    ------
    ValueError
        If `name` is not registered (the message lists the known names).
    DataHashError
        A :class:`~xdeepr.errors.DataFetchError` and a :class:`ValueError`: the
        download does not match the registered hash. The bad copy is not kept.
    DataFetchError
        An :class:`OSError`: the file cannot be downloaded (the message says to
        check the network only when the server could not be reached), or what
        was downloaded is not the file (an HTML page, a damaged archive) or does
        not open. Nothing bad is left in the cache; the message names the cache
        path, the URL and what to do (for instance set ``XDEEPR_DATA_MIRROR``).

    Warns
    -----
    UserWarning
        If the registry has no hash pinned for `name` (``none``): the download is
        not verified by hash, and the warning gives the SHA256 of the file
        received. Also when a damaged cached copy was removed and downloaded again.

    Examples
    --------
    >>> from xdeepr.datasets import fetch
    >>> features, labels = fetch("deepr-test-data.zip")  # doctest: +SKIP
    """
    return _fetch_with(_registry(), name, progress=progress)
