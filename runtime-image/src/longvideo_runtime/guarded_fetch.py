"""Fetching the reference image from a film's URL without letting the URL reach into the cluster.

The fetch runs on GPU nodes inside the cluster network, where a URL could name the cloud's metadata service, the
node, the API server, a pod or a service. So (docs/adr/0015-guarded-reference-fetch.md):

- the host is resolved once, and the fetch is refused when any of its addresses is in a refused range: loopback,
  link-local (the metadata service), private, carrier-grade NAT, unspecified, multicast, broadcast and reserved
  ranges (IPv4 inside IPv6 included), and the policy's own (the cluster's pod and service ranges), unless the
  policy allows a range that holds the address;
- the connection goes to one of those vetted addresses, never to a second lookup's answer, with the Host header,
  the TLS server name and the certificate check for the URL's host;
- redirects are followed here, at most `MAX_REDIRECTS`, each checked as the first request;
- one deadline bounds the whole fetch (lookups, connects, TLS, every read), and a size cap all the bytes;
- the bytes must be what the fetch is for (for the reference image a PNG, JPEG or WebP image; audio and pose
  videos are checked by conditioning_media.py) before anything is written to the workspace.

Failures say what kind of problem it was, never an address learned from DNS or a redirect, a port, the OS's error
text or what the server sent: the message becomes the film's status, and details there would make the operator a
port scanner of the cluster network. Refusals and bad content are BadInput (retrying cannot help); a connection
that fails or times out, or a server error, is a plain WorkerError, which the operator retries.
"""

from __future__ import annotations

import http.client
import io
import ipaddress
import json
import math
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from longvideo_runtime import fsio
from longvideo_runtime.contract import CONTRACT
from longvideo_runtime.errors import BadInput, WorkerError

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer, WriteableBuffer

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_DEFAULTS = CONTRACT.reference_fetch
MAX_REDIRECTS = _DEFAULTS.max_redirects
USER_AGENT = "longvideo-runtime"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
#: Server answers another attempt may not get: the operator retries them.
_TRANSIENT_STATUSES = frozenset({408, 425, 429})
_CHUNK = 1 << 16
#: Printable ASCII: what a request path may hold as it is; anything else is percent-encoded.
_PATH_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))

#: Refused unless the policy allows a range holding the address; the first match names the class.
BUILTIN_REFUSED: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(cidr), label)
    for cidr, label in (
        ("0.0.0.0/8", "unspecified"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("10.0.0.0/8", "private"),
        ("172.16.0.0/12", "private"),
        ("192.168.0.0/16", "private"),
        ("100.64.0.0/10", "carrier-grade NAT"),
        ("224.0.0.0/4", "multicast"),
        ("255.255.255.255/32", "broadcast"),
        ("240.0.0.0/4", "reserved"),
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "private"),
        ("fc00::/7", "private"),
        ("ff00::/8", "multicast"),
    )
)
#: The policy's own refused ranges (the cluster's pod and service ranges, and any the platform team adds).
CLUSTER_NETWORK = "cluster network"
#: IPv6 prefixes that carry an IPv4 address a gateway forwards to: NAT64's well-known prefix and 6to4.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


@dataclass(frozen=True)
class FetchPolicy:
    """Where a reference image may be fetched from, and how much and how long (LV_FETCH_POLICY)."""

    #: Ranges opened despite the built-in refused ones (an image server on a private network, say).
    allow: tuple[IPNetwork, ...] = ()
    #: Refused besides the built-in ranges, even inside a wider allowed range: the cluster's pod and service ranges.
    refuse: tuple[IPNetwork, ...] = ()
    max_bytes: int = _DEFAULTS.max_bytes
    #: For the whole fetch: lookups, connects, TLS and every read, redirects included.
    timeout_seconds: float = _DEFAULTS.timeout_seconds


def parse_policy(text: str | None) -> FetchPolicy:
    """The policy in LV_FETCH_POLICY's JSON; an absent field (or variable) takes the safe default."""
    if text is None or not text.strip():
        return FetchPolicy()
    try:
        raw = json.loads(text)
    except json.JSONDecodeError:
        raise BadInput("LV_FETCH_POLICY is not JSON") from None
    if not isinstance(raw, dict):
        raise BadInput("LV_FETCH_POLICY must be a JSON object")
    max_bytes = raw.get("maxBytes", _DEFAULTS.max_bytes)
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
        raise BadInput(f"LV_FETCH_POLICY.maxBytes must be a positive integer, got {json.dumps(max_bytes)[:40]}")
    timeout = raw.get("timeoutSeconds", _DEFAULTS.timeout_seconds)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout < math.inf:
        raise BadInput(f"LV_FETCH_POLICY.timeoutSeconds must be a positive number, got {json.dumps(timeout)[:40]}")
    return FetchPolicy(
        allow=_networks(raw, "allowCidrs"),
        refuse=_networks(raw, "refuseCidrs"),
        max_bytes=max_bytes,
        timeout_seconds=float(timeout),
    )


def _networks(raw: dict[str, Any], key: str) -> tuple[IPNetwork, ...]:
    values = raw.get(key, [])
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise BadInput(f"LV_FETCH_POLICY.{key} must be a list of CIDR ranges")
    networks: list[IPNetwork] = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise BadInput(f"LV_FETCH_POLICY.{key} holds {value[:60]!r}, which is not a CIDR range") from None
    return tuple(networks)


def refusal(address: IPAddress, policy: FetchPolicy) -> str | None:
    """Why `address` may not be fetched from (its range's class), or None when it may.

    An IPv4 address inside IPv6 (mapped, NAT64, 6to4) is judged too, as what the packets finally reach. The most
    specific of the policy's ranges decides between an allowed and a policy-refused one (a tie refuses), so an
    allowed corporate 10.0.0.0/8 does not open the cluster's 10.244.0.0/16, but an allowed 10.96.0.10/32 opens that
    one service; any allowed range opens the built-in ranges.
    """
    for candidate in _judged(address):
        reason = _refusal_of(candidate, policy)
        if reason is not None:
            return reason
    return None


def _judged(address: IPAddress) -> tuple[IPAddress, ...]:
    if isinstance(address, ipaddress.IPv4Address):
        return (address,)
    if address.ipv4_mapped is not None:
        # The same host as the IPv4 address, reached over the IPv6 socket.
        return (address.ipv4_mapped,)
    if address in _NAT64:
        return (address, ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address.sixtofour is not None:
        return (address, address.sixtofour)
    return (address,)


def _refusal_of(address: IPAddress, policy: FetchPolicy) -> str | None:
    allowed = max((n.prefixlen for n in policy.allow if address in n), default=-1)
    refused = max((n.prefixlen for n in policy.refuse if address in n), default=-1)
    if refused >= 0 and refused >= allowed:
        return CLUSTER_NETWORK
    if allowed >= 0:
        return None
    for network, label in BUILTIN_REFUSED:
        if address in network:
            return label
    # Documentation, benchmarking, protocol and other special-purpose ranges: nothing to fetch an image from.
    return None if address.is_global else "reserved"


def guarded_fetch(url: str, target: Path, policy: FetchPolicy, media: FetchedMedia | None = None) -> None:
    """Fetches the file at `url` into `target` (atomically) under `policy`; nothing is written on any failure.

    `media` says what the file is (its name in messages, the Accept header, the check of its bytes): the reference
    image unless given. Raises BadInput when the URL, an address it resolves or redirects to, or what it serves is
    refused, and WorkerError when the fetch fails in a way another attempt may not (connection, timeout, server
    error).
    """
    media = media or REFERENCE_IMAGE
    deadline = _Deadline(policy.timeout_seconds)
    data = _download(url, policy, deadline, media)
    media.check(data)
    fsio.ensure_dir(target.parent)
    fsio.write_bytes(target, data)


class _Deadline:
    """The end of the whole fetch: what is left of it, or TimeoutError once it has passed."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        left = self._end - time.monotonic()
        if left <= 0:
            raise TimeoutError("the fetch's deadline has passed")
        return left


@dataclass(frozen=True)
class _Target:
    scheme: str
    #: The URL's host, in ASCII (IDNA), without brackets: what is resolved, sent as Host and checked in TLS.
    host: str
    port: int
    #: Path and query, as sent in the request line.
    path: str


@dataclass(frozen=True)
class _Address:
    family: socket.AddressFamily
    sockaddr: tuple[Any, ...]


def _download(url: str, policy: FetchPolicy, deadline: _Deadline, media: FetchedMedia) -> bytes:
    """The body the URL (after redirects) serves, under the policy; failures as WorkerErrors without details."""
    subject = media.subject
    current = url
    try:
        for hop in range(MAX_REDIRECTS + 1):
            redirected = hop > 0
            target = _target(current, redirected, subject)
            addresses = _vetted(target, policy, deadline, redirected, subject)
            location, body = _get(target, addresses, policy, deadline, media)
            if location is None:
                return body
            current = urllib.parse.urljoin(current, location)
    except WorkerError:
        raise
    except TimeoutError:
        raise WorkerError(f"{subject} could not be fetched (timed out after {deadline.seconds:g} s)") from None
    except ssl.SSLCertVerificationError:
        raise BadInput(f"{subject} could not be fetched (TLS certificate verification failed)") from None
    except ssl.SSLError:
        raise WorkerError(f"{subject} could not be fetched (TLS failed)") from None
    except http.client.InvalidURL:
        raise BadInput(f"{subject} URL is not a valid URL") from None
    except (http.client.IncompleteRead, ConnectionError):
        raise WorkerError(f"{subject} could not be fetched (connection failed)") from None
    except http.client.HTTPException:
        raise BadInput(f"{subject} could not be fetched (the server's answer is not valid HTTP)") from None
    except OSError:
        raise WorkerError(f"{subject} could not be fetched (connection failed)") from None
    raise BadInput(f"{subject} URL redirected more than {MAX_REDIRECTS} times")


def _target(url: str, redirected: bool, subject: str) -> _Target:
    invalid = (
        f"{subject} URL redirects to something that is not a valid URL"
        if redirected
        else f"{subject} URL is not a valid URL"
    )
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError:
        raise BadInput(invalid) from None
    if parts.scheme not in ("http", "https"):
        raise BadInput(
            f"{subject} URL redirects to a URL that is not http or https"
            if redirected
            else f"{subject} URL must be http or https"
        )
    if not host:
        raise BadInput(invalid)
    try:
        ascii_host = host if host.isascii() else host.encode("idna").decode("ascii")
    except UnicodeError:
        raise BadInput(invalid) from None
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return _Target(
        scheme=parts.scheme,
        host=ascii_host,
        port=port if port is not None else (443 if parts.scheme == "https" else 80),
        path=urllib.parse.quote(path, safe=_PATH_SAFE),
    )


def _vetted(
    target: _Target, policy: FetchPolicy, deadline: _Deadline, redirected: bool, subject: str
) -> list[_Address]:
    """The host's addresses, once all are found acceptable: one refused address refuses the host."""
    addresses: list[_Address] = []
    for family, _, _, _, sockaddr in _resolve(target, deadline, redirected, subject):
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        reason = refusal(ipaddress.ip_address(sockaddr[0]), policy)
        if reason is not None:
            raise BadInput(
                f"{subject} URL redirects to a refused address range ({reason})"
                if redirected
                else f"{subject} URL's host resolves to a refused address range ({reason})"
            )
        address = _Address(family, tuple(sockaddr))
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise BadInput(_unresolved(redirected, subject))
    return addresses


def _unresolved(redirected: bool, subject: str) -> str:
    if redirected:
        return f"{subject} URL redirects to a host that cannot be resolved"
    return f"{subject} URL's host cannot be resolved"


_AddrInfo = tuple[socket.AddressFamily, socket.SocketKind, int, str, tuple[Any, ...]]


def _resolve(target: _Target, deadline: _Deadline, redirected: bool, subject: str) -> list[_AddrInfo]:
    """getaddrinfo within the deadline: the lookup has no timeout of its own, so it runs on a thread left behind."""
    found: list[_AddrInfo] = []
    failed: list[OSError] = []

    def lookup() -> None:
        try:
            found.extend(socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM))
        except OSError as e:
            failed.append(e)

    thread = threading.Thread(target=lookup, name="reference-lookup", daemon=True)
    thread.start()
    thread.join(deadline.remaining())
    if thread.is_alive():
        raise TimeoutError("the lookup did not finish in time")
    if failed:
        error = failed[0]
        if isinstance(error, socket.gaierror) and error.errno == socket.EAI_AGAIN:
            raise WorkerError(f"{subject} could not be fetched (the host name lookup failed for now)")
        raise BadInput(_unresolved(redirected, subject))
    return found


def _get(
    target: _Target, addresses: list[_Address], policy: FetchPolicy, deadline: _Deadline, media: FetchedMedia
) -> tuple[str | None, bytes]:
    """One GET over a connection pinned to a vetted address: a redirect's Location, or the body."""
    subject = media.subject
    sock = _connect(addresses, deadline)
    connection: _PinnedConnection | None = None
    try:
        connection = _PinnedConnection(target, sock)
        if target.scheme == "https":
            connection.sock = _tls(sock, target.host, deadline)
        connection.request(
            "GET",
            target.path,
            headers={"User-Agent": USER_AGENT, "Accept": media.accept, "Connection": "close"},
        )
        response = connection.getresponse()
        location = response.getheader("Location")
        if response.status in _REDIRECTS and location:
            return location, b""
        if not 200 <= response.status < 300 or response.status in (204, 206):
            failure = f"{subject} could not be fetched (HTTP {response.status})"
            if response.status in _TRANSIENT_STATUSES or response.status >= 500:
                raise WorkerError(failure)
            raise BadInput(failure)
        return None, _body(response, policy, subject)
    finally:
        if connection is not None:
            connection.close()
        sock.close()


def _connect(addresses: list[_Address], deadline: _Deadline) -> socket.socket:
    """A TCP connection to the first vetted address that answers."""
    failure: OSError | None = None
    for address in addresses:
        sock = _DeadlineSocket(address.family, socket.SOCK_STREAM)
        sock.deadline = deadline
        try:
            sock.settimeout(deadline.remaining())
            sock.connect(address.sockaddr)
        except TimeoutError:
            sock.close()
            raise
        except OSError as e:
            sock.close()
            failure = e
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    raise failure or ConnectionError("no address to connect to")


def _tls(sock: socket.socket, host: str, deadline: _Deadline) -> ssl.SSLSocket:
    """TLS over the pinned socket, for the URL's host name (SNI and the certificate check), within the deadline."""
    context = ssl.create_default_context()
    context.sslsocket_class = _DeadlineTLSSocket
    tls = context.wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
    if not isinstance(tls, _DeadlineTLSSocket):
        raise TypeError("the TLS socket is not the deadline-bound kind")
    tls.deadline = deadline
    try:
        # One handshake call waits at most its timeout in all (CPython's _ssl keeps a deadline across its waits).
        tls.settimeout(deadline.remaining())
        tls.do_handshake()
    except BaseException:
        tls.close()
        raise
    return tls


def _body(response: http.client.HTTPResponse, policy: FetchPolicy, subject: str) -> bytes:
    """The response's body, refused as soon as it is known to exceed the size cap (declared or counted)."""
    too_large = BadInput(f"{subject} is larger than {_size(policy.max_bytes)}")
    declared = response.getheader("Content-Length")
    if declared is not None and declared.strip().isdigit() and int(declared.strip()) > policy.max_bytes:
        raise too_large
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = response.read(min(_CHUNK, policy.max_bytes + 1 - total))
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > policy.max_bytes:
            raise too_large
        chunks.append(chunk)


def _size(n: int) -> str:
    mib = 1 << 20
    return f"{n // mib} MiB" if n % mib == 0 else f"{n} bytes"


class _DeadlineSocket(socket.socket):
    """A TCP socket whose every receive and send waits at most until the fetch's deadline.

    A timeout per read would let a server that sends a byte now and then hold the fetch forever; setting the
    socket's timeout to what is left of the whole fetch before each call does not.
    """

    deadline: _Deadline

    def recv_into(self, buffer: WriteableBuffer, nbytes: int = 0, flags: int = 0) -> int:
        self.settimeout(self.deadline.remaining())
        return super().recv_into(buffer, nbytes, flags)

    def sendall(self, data: ReadableBuffer, flags: int = 0, /) -> None:
        self.settimeout(self.deadline.remaining())
        super().sendall(data, flags)


class _DeadlineTLSSocket(ssl.SSLSocket):
    """The TLS socket over a `_DeadlineSocket`, bound to the same deadline (it reads the raw socket itself)."""

    deadline: _Deadline

    def recv_into(self, buffer: WriteableBuffer, nbytes: int | None = None, flags: int = 0) -> int:
        self.settimeout(self.deadline.remaining())
        return super().recv_into(buffer, nbytes, flags)

    def sendall(self, data: ReadableBuffer, flags: int = 0) -> None:
        self.settimeout(self.deadline.remaining())
        super().sendall(data, flags)


class _PinnedConnection(http.client.HTTPConnection):
    """HTTP over a socket already connected to a vetted address: it never looks the host up or connects itself.

    The host and port are the URL's, for the Host header; for https the socket is swapped for its TLS wrapper.
    """

    def __init__(self, target: _Target, sock: socket.socket) -> None:
        super().__init__(target.host, target.port)
        self.default_port = 443 if target.scheme == "https" else 80
        self.sock = sock

    def connect(self) -> None:
        raise http.client.NotConnected("a pinned connection never connects on its own")


_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "PNG"),
    (b"\xff\xd8\xff", 0, "JPEG"),
    (b"WEBP", 8, "WEBP"),
)


def image_format(data: bytes) -> str | None:
    """PNG, JPEG or WEBP by the bytes' magic number; None for anything else."""
    for magic, offset, name in _MAGIC:
        if data[offset : offset + len(magic)] == magic and (name != "WEBP" or data[:4] == b"RIFF"):
            return name
    return None


def _check_image(data: bytes) -> None:
    """Refuses bytes that are not a PNG, JPEG or WebP image Pillow can read the structure of."""
    from PIL import Image  # not at import: the spec reads the policy for every command

    not_an_image = BadInput("the reference image is not a PNG, JPEG or WebP image")
    expected = image_format(data)
    if expected is None:
        raise not_an_image
    try:
        with Image.open(io.BytesIO(data), formats=[expected]) as image:
            image.verify()
    except Exception:
        # Truncated or corrupt data, an unsupported variant, or too many pixels (a decompression bomb).
        raise not_an_image from None


@dataclass(frozen=True)
class FetchedMedia:
    """What a guarded fetch brings: its name in messages, the Accept header it sends, and the check of its bytes."""

    #: "the reference image", "the audio": the film's status reads `<subject> URL ...`.
    subject: str
    accept: str
    #: Raises BadInput when the bytes are not this kind of file; runs before anything is written.
    check: Callable[[bytes], None]


#: The reference image: PNG, JPEG or WebP, verified by Pillow.
REFERENCE_IMAGE = FetchedMedia(
    subject="the reference image", accept="image/png, image/jpeg, image/webp", check=_check_image
)
