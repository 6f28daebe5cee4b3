"""Downloading the ``http(s)`` file URLs of chat messages, for models that take only inline bytes.

A URL in a message is something the user handed over, not something they asked this machine to
fetch: the host downloads one only when ``[files] fetch_urls`` (or ``GENAI_FETCH_URLS=1``) allows
it, and only for a model whose API does not read URLs itself (:attr:`DeployedModel.url_input_modalities`).
Otherwise the call fails before anything is sent, saying how to attach the bytes instead.

Downloads are bounded (``fetch_max_bytes``, ``fetch_timeout``), follow at most
:data:`MAX_REDIRECTS` redirects, and by default refuse loopback, private, link-local and reserved
addresses, checked again on every redirect. The check resolves the name before httpx connects, so
a name whose DNS answer changes in between (DNS rebinding) is not caught: allow URL fetching only
where that risk is acceptable, or put an egress proxy in front (httpx honours ``HTTPS_PROXY``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import mimetypes
import socket
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urljoin, urlsplit

import attrs

from ._log import get_logger
from .errors import FileFetchError, UnsupportedCapabilityError, ValidationError
from .model.enums import FileType, Modality
from .redaction import SHOWN, redacted_errors, url_credentials

if TYPE_CHECKING:
    import httpx

    from .answer_limit import AnswerTooLarge
    from .config import FileSettings
    from .model import DeployedModel, FileContent, Request

__all__ = ["MAX_REDIRECTS", "afetch_urls", "fetch_urls", "pending_urls"]

log = get_logger(__name__)

#: Redirects followed per URL, each target checked like the first.
MAX_REDIRECTS = 5

_MODALITY = {FileType.IMAGE: Modality.IMAGE, FileType.DOCUMENT: Modality.DOCUMENT}
_EXTENSIONS = {"image/jpeg": "jpeg", "image/jpg": "jpeg", "text/plain": "txt", "text/markdown": "md"}


def pending_urls(request: Request, model: DeployedModel) -> list[FileContent]:
    """The files of ``request`` the host must download before ``model`` can read them."""
    pending = []
    for message in request.messages:
        if message.files is None:
            continue
        for file in message.files:
            url = file.url
            remote = url is not None and url.startswith(("http://", "https://"))
            if remote and _MODALITY[file.file_type] not in model.url_input_modalities:
                pending.append(file)
    return pending


def fetch_urls(request: Request, model: DeployedModel, settings: FileSettings) -> Request:
    """``request`` with every URL file ``model`` cannot read itself replaced by its downloaded bytes."""
    pending = pending_urls(request, model)
    if not pending:
        return request
    _allowed(model, pending, settings)
    import httpx  # noqa: PLC0415 - only when a download happens

    from .answer_limit import hooks  # noqa: PLC0415

    downloaded: dict[str, FileContent] = {}
    capped = hooks(settings.fetch_max_bytes, asynchronous=False)
    with (
        redacted_errors(_url_secrets(pending)),  # what a server's error quotes of the URLs' credentials
        httpx.Client(timeout=settings.fetch_timeout, follow_redirects=False, event_hooks=capped) as client,
    ):
        for file in pending:
            if file.url not in downloaded:
                downloaded[str(file.url)] = _download(client, file, settings)
    return _replace(request, downloaded)


async def afetch_urls(request: Request, model: DeployedModel, settings: FileSettings) -> Request:
    """:func:`fetch_urls`, async; the downloads run concurrently."""
    pending = pending_urls(request, model)
    if not pending:
        return request
    _allowed(model, pending, settings)
    import httpx  # noqa: PLC0415

    from .answer_limit import hooks  # noqa: PLC0415

    unique = {str(file.url): file for file in pending}
    capped = hooks(settings.fetch_max_bytes, asynchronous=True)
    with redacted_errors(_url_secrets(pending)):  # what a server's error quotes of the URLs' credentials
        client = httpx.AsyncClient(timeout=settings.fetch_timeout, follow_redirects=False, event_hooks=capped)
        async with client:
            results = await asyncio.gather(*(_adownload(client, file, settings) for file in unique.values()))
    return _replace(request, dict(zip(unique, results, strict=True)))


def _allowed(model: DeployedModel, pending: list[FileContent], settings: FileSettings) -> None:
    if settings.fetch_urls:
        return
    kinds = sorted({f.file_type.value for f in pending})
    raise UnsupportedCapabilityError(
        f"model {model.ref} takes {' and '.join(kinds)}s as inline bytes, not http(s) URLs, and the host "
        "downloads URLs only when allowed: attach the file itself (FileContent.from_path or from_bytes, "
        "`genai chat -f PATH`), or allow downloads with [files] fetch_urls = true or GENAI_FETCH_URLS=1",
        target=model.ref,
        capability="file URLs",
    )


def _download(client: httpx.Client, file: FileContent, settings: FileSettings) -> FileContent:
    """Download one file, through a client whose answers are capped at ``fetch_max_bytes``."""
    import httpx  # noqa: PLC0415

    from .answer_limit import AnswerTooLarge  # noqa: PLC0415

    url = str(file.url)
    for _ in range(MAX_REDIRECTS + 1):
        _check_address(url, _resolve(url), settings)
        try:
            with client.stream("GET", url) as response:
                target = _redirect(url, response)
                if target is None:
                    return _inline(file, url, response, response.read())
        except AnswerTooLarge as exc:
            raise _too_large(url, settings, exc) from exc
        except httpx.HTTPError as exc:
            raise _transport_error(url, exc) from exc
        url = target
    raise FileFetchError(f"{_safe(url)} redirects more than {MAX_REDIRECTS} times; give the final URL", url=_safe(url))


async def _adownload(client: httpx.AsyncClient, file: FileContent, settings: FileSettings) -> FileContent:
    import httpx  # noqa: PLC0415

    from .answer_limit import AnswerTooLarge  # noqa: PLC0415

    url = str(file.url)
    for _ in range(MAX_REDIRECTS + 1):
        _check_address(url, await _aresolve(url), settings)
        try:
            async with client.stream("GET", url) as response:
                target = _redirect(url, response)
                if target is None:
                    return _inline(file, url, response, await response.aread())
        except AnswerTooLarge as exc:
            raise _too_large(url, settings, exc) from exc
        except httpx.HTTPError as exc:
            raise _transport_error(url, exc) from exc
        url = target
    raise FileFetchError(f"{_safe(url)} redirects more than {MAX_REDIRECTS} times; give the final URL", url=_safe(url))


def _transport_error(url: str, exc: Exception) -> FileFetchError:
    return FileFetchError(
        f"could not download {_safe(url)}: {type(exc).__name__}: {exc}; check the URL, or attach the file itself",
        url=_safe(url),
    )


def _redirect(url: str, response: httpx.Response) -> str | None:
    if response.status_code in (301, 302, 303, 307, 308) and "location" in response.headers:
        target = urljoin(url, response.headers["location"])
        if not target.startswith(("http://", "https://")):
            raise FileFetchError(f"{_safe(url)} redirects to a non-http URL; refused", url=_safe(url))
        return target
    if response.status_code != 200:
        raise FileFetchError(
            f"could not download {_safe(url)}: the server answered HTTP {response.status_code}; check the URL, "
            "or attach the file itself",
            url=_safe(url),
        )
    return None


def _too_large(url: str, settings: FileSettings, exc: AnswerTooLarge) -> FileFetchError:
    what = f"{_safe(url)}, decoded from {exc.decoded}," if exc.decoded else _safe(url)
    return FileFetchError(
        f"{what} is larger than [files] fetch_max_bytes ({settings.fetch_max_bytes} bytes); raise the limit or "
        "attach a smaller file",
        url=_safe(url),
    )


def _inline(file: FileContent, url: str, response: httpx.Response, body: bytes) -> FileContent:
    from .model import FileContent  # noqa: PLC0415

    kind = response.headers.get("content-type", "").partition(";")[0].strip().lower()
    if file.file_type is FileType.IMAGE and not kind.startswith("image/"):
        raise FileFetchError(
            f"{_safe(url)} is {kind or 'of no declared type'}, not an image; check the URL", url=_safe(url)
        )
    if not body:
        raise FileFetchError(f"{_safe(url)} is empty", url=_safe(url))
    extension = _extension(kind, url)
    log.debug("file_url_fetched", host=urlsplit(url).hostname, bytes=len(body), media_type=kind)
    return FileContent.from_bytes(body, file.file_type, extension=extension, text_content=file.text_content)


def _extension(kind: str, url: str) -> str | None:
    if kind in _EXTENSIONS:
        return _EXTENSIONS[kind]
    guessed = mimetypes.guess_extension(kind) if kind and kind != "application/octet-stream" else None
    if guessed:
        return guessed.lstrip(".")
    suffix = urlsplit(url).path.rpartition("/")[2].rpartition(".")[2]
    return suffix.lower() if suffix and suffix.isalnum() and len(suffix) <= 5 else None


def _resolve(url: str) -> list[str]:
    host, port = _host_port(url)
    try:
        return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]
    except OSError as exc:
        raise FileFetchError(f"could not resolve the host of {_safe(url)}: {exc}", url=_safe(url)) from exc


async def _aresolve(url: str) -> list[str]:
    host, port = _host_port(url)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise FileFetchError(f"could not resolve the host of {_safe(url)}: {exc}", url=_safe(url)) from exc
    return [str(info[4][0]) for info in infos]


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise ValidationError(f"file URL {_safe(url)} has an invalid port") from exc
    if not parts.hostname:
        raise ValidationError(f"file URL {_safe(url)} names no host")
    return parts.hostname, port


def _check_address(url: str, addresses: list[str], settings: FileSettings) -> None:
    if settings.fetch_private_networks:
        return
    for address in addresses:
        ip = ipaddress.ip_address(address.partition("%")[0])
        if not ip.is_global or ip.is_multicast:
            raise FileFetchError(
                f"{_safe(url)} points at a loopback, private or reserved address ({ip}); the host does not "
                "download from those unless [files] fetch_private_networks = true",
                url=_safe(url),
            )


def _url_secrets(files: list[FileContent]) -> list[str]:
    """What the files' URLs carry that a server's error could quote back: a ``user:password@``,
    and the longer values of the query (signatures, tokens; short ones are page numbers and such)."""
    found: list[str] = []
    for file in files:
        url = str(file.url)
        found += url_credentials(url)
        found += [value for _, value in parse_qsl(urlsplit(url).query) if len(value) > SHOWN]
    return found


def _safe(url: str) -> str:
    """The URL without credentials, query or fragment, which may carry signatures or tokens."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


def _replace(request: Request, downloaded: dict[str, FileContent]) -> Request:
    from .model import FileCollection  # noqa: PLC0415

    messages = []
    for message in request.messages:
        if message.files is not None and any(f.url in downloaded for f in message.files):
            files = FileCollection(files=[downloaded.get(str(f.url), f) if f.url else f for f in message.files])
            messages.append(attrs.evolve(message, files=files))
        else:
            messages.append(message)
    return attrs.evolve(request, messages=tuple(messages))
