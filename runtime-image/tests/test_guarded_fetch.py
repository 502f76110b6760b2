"""The guarded reference fetch against real HTTP(S) servers on loopback addresses (Linux routes all of 127/8 to lo).

Loopback is refused by default, so most tests open 127.0.0.0/8 (or one address of it) in the policy; a second
server on 127.0.0.1 then stands for a refused address behind an allowed 127.0.0.2. Host names are given to the
fetch through a patched getaddrinfo. Every failure's message is checked for the servers' addresses and ports.
"""

from __future__ import annotations

import http.server
import io
import ipaddress
import json
import re
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from chain import segment_env
from conftest import run_cli
from longvideo_runtime import guarded_fetch as gf
from longvideo_runtime.contract import CONTRACT
from longvideo_runtime.errors import BadInput, ExitCode, WorkerError
from longvideo_runtime.guarded_fetch import FetchPolicy, guarded_fetch, parse_policy, refusal
from longvideo_runtime.spec import parse_segment


def image_bytes(kind: str = "PNG", size: tuple[int, int] = (8, 6)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 40, 90)).save(out, kind)
    return out.getvalue()


PNG = image_bytes()
LOOPBACK = parse_policy('{"allowCidrs": ["127.0.0.0/8"]}')


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = PNG
    #: Send a Content-Length header (else the body ends when the connection closes).
    length: bool = True
    #: From which byte of the raw response on, and how slowly, to send it a byte at a time.
    dribble_from: int | None = None
    dribble_seconds: float = 0.05


class Server:
    """An HTTP server on a loopback address in a thread: answers each path from `routes`, records the requests."""

    def __init__(self, host: str, routes: dict[str, Reply], tls: ssl.SSLContext | None = None) -> None:
        self.routes = routes
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.stopping = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append((self.path, dict(self.headers.items())))
                reply = server.routes.get(self.path, Reply(status=404, body=b"no such thing"))
                head = [f"HTTP/1.1 {reply.status} Whatever", *(f"{k}: {v}" for k, v in reply.headers.items())]
                if reply.length:
                    head.append(f"Content-Length: {len(reply.body)}")
                raw = ("\r\n".join([*head, "Connection: close"]) + "\r\n\r\n").encode() + reply.body
                start = len(raw) if reply.dribble_from is None else reply.dribble_from
                try:
                    self.wfile.write(raw[:start])
                    self.wfile.flush()
                    for i in range(start, len(raw)):
                        if server.stopping.wait(reply.dribble_seconds):
                            return
                        self.wfile.write(raw[i : i + 1])
                        self.wfile.flush()
                except OSError:
                    return

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.httpd.block_on_close = False
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.host = host
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str, host: str | None = None, scheme: str = "http") -> str:
        return f"{scheme}://{host or self.host}:{self.port}{path}"

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(host: str, routes: dict[str, Reply], tls: ssl.SSLContext | None = None) -> Server:
        servers.append(Server(host, routes, tls))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def assert_discreet(message: str, *servers: Server) -> None:
    """The message names no server's address or port, and no OS error text."""
    for server in servers:
        assert server.host not in message, message
        assert not re.search(rf"\b{server.port}\b", message), message
    assert not re.search(r"errno|refused by peer|Connection refused|\d+\.\d+\.\d+\.\d+", message, re.I), message


def fetch_fails(url: str, target: Path, policy: FetchPolicy, *servers: Server) -> WorkerError:
    with pytest.raises(WorkerError) as caught:
        guarded_fetch(url, target, policy)
    assert not target.parent.exists(), "nothing may be written to the workspace"
    assert_discreet(caught.value.message, *servers)
    return caught.value


def resolving(monkeypatch: pytest.MonkeyPatch, names: dict[str, list[list[str]]]) -> list[str]:
    """getaddrinfo answering each name with its next list of addresses (the last one again); returns the lookups."""
    asked: list[str] = []
    real = socket.getaddrinfo

    def fake(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in names:
            return real(host, port, *args, **kwargs)
        answers = names[host]
        addresses = answers[min(len([h for h in asked if h == host]), len(answers) - 1)]
        asked.append(host)
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (a, port, 0, 0) if ":" in a else (a, port),
            )
            for a in addresses
        ]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return asked


# --- the address rules ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.3.2.1", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("fd00:ec2::254", "private"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("255.255.255.255", "broadcast"),
        ("240.0.0.1", "reserved"),
        ("192.0.2.1", "reserved"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::ffff:10.1.2.3", "private"),
        ("64:ff9b::a9fe:a9fe", "link-local"),
        ("2002:7f00:1::1", "loopback"),
        ("93.184.216.34", None),
        ("::ffff:93.184.216.34", None),
        ("2606:4700::1111", None),
        ("172.32.0.1", None),
    ],
)
def test_built_in_ranges_are_refused_by_class(address: str, reason: str | None) -> None:
    assert refusal(ipaddress.ip_address(address), FetchPolicy()) == reason


def test_the_policy_opens_ranges_and_refuses_the_clusters() -> None:
    def verdict(address: str, policy: str) -> str | None:
        return refusal(ipaddress.ip_address(address), parse_policy(policy))

    corporate = '{"allowCidrs": ["10.0.0.0/8"], "refuseCidrs": ["10.244.0.0/16", "10.96.0.0/12"]}'
    assert verdict("10.1.2.3", corporate) is None
    assert verdict("10.244.1.1", corporate) == "cluster network", "a wider allowed range does not open the pods'"
    assert verdict("10.96.0.10", corporate) == "cluster network"
    one_service = '{"allowCidrs": ["10.96.0.10/32"], "refuseCidrs": ["10.96.0.0/12"]}'
    assert verdict("10.96.0.10", one_service) is None, "a narrower allowed range opens that much of it"
    assert verdict("10.96.0.11", one_service) == "cluster network"
    assert verdict("10.96.0.10", '{"allowCidrs": ["10.96.0.0/12"], "refuseCidrs": ["10.96.0.0/12"]}') == (
        "cluster network"
    ), "a tie refuses"
    assert verdict("93.184.216.34", '{"refuseCidrs": ["93.184.0.0/16"]}') == "cluster network"
    assert verdict("::ffff:127.0.0.1", '{"allowCidrs": ["127.0.0.0/8"]}') is None
    assert verdict("::ffff:10.244.0.5", '{"refuseCidrs": ["10.244.0.0/16"]}') == "cluster network"
    assert verdict("127.0.0.1", '{"allowCidrs": ["::/0"]}') == "loopback", "an IPv6 range holds no IPv4 address"


def test_the_policy_defaults_are_the_contracts_and_safe() -> None:
    policy = parse_policy(None)
    assert policy == parse_policy("") == parse_policy("{}") == FetchPolicy()
    assert (policy.allow, policy.refuse) == ((), ())
    facts = CONTRACT.reference_fetch
    assert (policy.max_bytes, policy.timeout_seconds, gf.MAX_REDIRECTS) == (
        facts.max_bytes,
        facts.timeout_seconds,
        facts.max_redirects,
    )
    assert (facts.max_bytes, facts.timeout_seconds, facts.max_redirects) == (64 << 20, 30, 5)
    full = parse_policy(
        '{"allowCidrs": ["203.0.113.0/24"], "refuseCidrs": ["10.244.0.0/16", "fd00:10::/64"], "maxBytes": 1000, '
        '"timeoutSeconds": 2.5, "later": true}'
    )
    assert full == FetchPolicy(
        allow=(ipaddress.ip_network("203.0.113.0/24"),),
        refuse=(ipaddress.ip_network("10.244.0.0/16"), ipaddress.ip_network("fd00:10::/64")),
        max_bytes=1000,
        timeout_seconds=2.5,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "LV_FETCH_POLICY is not JSON"),
        ("[]", "must be a JSON object"),
        ('{"allowCidrs": "10.0.0.0/8"}', "allowCidrs must be a list"),
        ('{"refuseCidrs": ["10.0.0.0/33"]}', "refuseCidrs holds '10.0.0.0/33', which is not a CIDR range"),
        ('{"maxBytes": 0}', "maxBytes must be a positive integer"),
        ('{"maxBytes": 1.5}', "maxBytes must be a positive integer"),
        ('{"timeoutSeconds": -1}', "timeoutSeconds must be a positive number"),
        ('{"timeoutSeconds": true}', "timeoutSeconds must be a positive number"),
    ],
)
def test_a_malformed_policy_is_bad_input(text: str, message: str) -> None:
    with pytest.raises(BadInput, match=re.escape(message)):
        parse_policy(text)


def test_the_segment_spec_reads_the_policy_and_leaves_it_out_of_the_fingerprint() -> None:
    base = {"LV_SEGMENT_INDEX": "0", "LV_SEGMENT_HASH": "h", "LV_BACKEND": "animatic"}
    open_policy = parse_segment({**base, "LV_FETCH_POLICY": '{"allowCidrs": ["127.0.0.0/8"], "maxBytes": 10}'})
    assert open_policy.fetch_policy == FetchPolicy(allow=(ipaddress.ip_network("127.0.0.0/8"),), max_bytes=10)
    assert parse_segment(base).fetch_policy == FetchPolicy()
    assert open_policy.fingerprint() == parse_segment(base).fingerprint()
    with pytest.raises(BadInput, match="LV_FETCH_POLICY"):
        parse_segment({**base, "LV_FETCH_POLICY": '{"allowCidrs": ["nope"]}'})


# --- fetching ------------------------------------------------------------------------------------------------------


def test_loopback_is_refused_by_default_before_any_request(serve: Callable[..., Server], tmp_path: Path) -> None:
    server = serve("127.0.0.1", {"/ref.png": Reply()})
    error = fetch_fails(server.url("/ref.png"), tmp_path / "ws" / "inputs" / "ref", FetchPolicy(), server)
    assert isinstance(error, BadInput)
    assert error.message == "the reference image URL's host resolves to a refused address range (loopback)"
    assert server.requests == []


@pytest.mark.parametrize("kind", ["PNG", "JPEG", "WEBP"])
def test_an_allowed_server_s_image_is_written(serve: Callable[..., Server], tmp_path: Path, kind: str) -> None:
    data = image_bytes(kind)
    server = serve("127.0.0.1", {"/still": Reply(body=data)})
    target = tmp_path / "ws" / "inputs" / "reference-1"
    guarded_fetch(server.url("/still"), target, LOOPBACK)
    assert target.read_bytes() == data
    assert [p.name for p in target.parent.iterdir()] == [target.name], "no temporary file is left"
    ((path, headers),) = server.requests
    assert path == "/still" and headers["Host"] == f"127.0.0.1:{server.port}"
    assert headers["User-Agent"] == gf.USER_AGENT and "image/png" in headers["Accept"]


@pytest.mark.parametrize(
    "body",
    [
        b"<html>an error page</html>",
        b"",
        PNG[:40],
        b"\x89PNG\r\n\x1a\n" + b"\0" * 200,
        b"RIFF\0\0\0\0WAVEfmt ",
    ],
    ids=["html", "empty", "truncated-png", "png-magic-only", "riff-not-webp"],
)
def test_bytes_that_are_not_an_image_are_refused(serve: Callable[..., Server], tmp_path: Path, body: bytes) -> None:
    server = serve("127.0.0.1", {"/ref.png": Reply(body=body, headers={"Content-Type": "image/png"})})
    error = fetch_fails(server.url("/ref.png"), tmp_path / "ws" / "ref", LOOPBACK, server)
    assert isinstance(error, BadInput)
    assert error.message == "the reference image is not a PNG, JPEG or WebP image"


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "until-close"])
def test_a_body_over_the_size_cap_is_refused(serve: Callable[..., Server], tmp_path: Path, declared: bool) -> None:
    big = PNG + b"\0" * 5000
    server = serve("127.0.0.1", {"/big.png": Reply(body=big, length=declared)})
    policy = parse_policy(json.dumps({"allowCidrs": ["127.0.0.0/8"], "maxBytes": 4096}))
    error = fetch_fails(server.url("/big.png"), tmp_path / "ws" / "ref", policy, server)
    assert isinstance(error, BadInput) and error.message == "the reference image is larger than 4096 bytes"
    exact = parse_policy(json.dumps({"allowCidrs": ["127.0.0.0/8"], "maxBytes": len(PNG)}))
    server.routes["/exact.png"] = Reply(length=declared)
    guarded_fetch(server.url("/exact.png"), tmp_path / "ws" / "ref", exact)
    assert (tmp_path / "ws" / "ref").read_bytes() == PNG


def test_the_size_cap_is_told_in_mib(serve: Callable[..., Server], tmp_path: Path) -> None:
    server = serve("127.0.0.1", {"/big.png": Reply(body=PNG + b"\0" * (1 << 20))})
    policy = parse_policy(json.dumps({"allowCidrs": ["127.0.0.0/8"], "maxBytes": 1 << 20}))
    error = fetch_fails(server.url("/big.png"), tmp_path / "ws" / "ref", policy, server)
    assert error.message == "the reference image is larger than 1 MiB"


@pytest.mark.parametrize("dribble_from", [0, 60], ids=["head", "body"])
def test_a_server_dribbling_bytes_is_cut_off_at_the_total_deadline(
    serve: Callable[..., Server], tmp_path: Path, dribble_from: int
) -> None:
    """Each byte comes well within any per-read timeout; only a deadline for the whole fetch ends it."""
    server = serve("127.0.0.1", {"/slow.png": Reply(dribble_from=dribble_from, dribble_seconds=0.05)})
    policy = parse_policy('{"allowCidrs": ["127.0.0.0/8"], "timeoutSeconds": 1}')
    started = time.monotonic()
    error = fetch_fails(server.url("/slow.png"), tmp_path / "ws" / "ref", policy, server)
    elapsed = time.monotonic() - started
    assert error.message == "the reference image could not be fetched (timed out after 1 s)"
    assert error.code == ExitCode.INTERNAL, "a timeout is retried"
    assert 1.0 <= elapsed < 2.5, elapsed


def test_a_redirect_to_a_refused_address_is_refused_there(serve: Callable[..., Server], tmp_path: Path) -> None:
    refused = serve("127.0.0.1", {"/ref.png": Reply()})
    allowed = serve("127.0.0.2", {"/ref.png": Reply(status=302, headers={"Location": refused.url("/ref.png")})})
    policy = parse_policy('{"allowCidrs": ["127.0.0.2/32"]}')
    error = fetch_fails(allowed.url("/ref.png"), tmp_path / "ws" / "ref", policy, refused, allowed)
    assert isinstance(error, BadInput)
    assert error.message == "the reference image URL redirects to a refused address range (loopback)"
    assert [p for p, _ in allowed.requests] == ["/ref.png"] and refused.requests == []


def test_redirects_are_followed_up_to_the_limit(serve: Callable[..., Server], tmp_path: Path) -> None:
    server = serve("127.0.0.1", {})
    hops = gf.MAX_REDIRECTS
    for i in range(hops):
        # Relative and absolute locations, and every redirect status.
        status = [301, 302, 303, 307, 308][i % 5]
        location = f"/hop{i + 1}" if i % 2 else server.url(f"/hop{i + 1}")
        server.routes[f"/hop{i}"] = Reply(status=status, headers={"Location": location}, body=b"")
    server.routes[f"/hop{hops}"] = Reply()
    guarded_fetch(server.url("/hop0"), tmp_path / "ws" / "ref", LOOPBACK)
    assert (tmp_path / "ws" / "ref").read_bytes() == PNG
    assert len(server.requests) == hops + 1

    server.routes[f"/hop{hops}"] = Reply(status=302, headers={"Location": "/hop0"}, body=b"")
    error = fetch_fails(server.url("/hop0"), tmp_path / "ws2" / "ref", LOOPBACK, server)
    assert error.message == f"the reference image URL redirected more than {hops} times"

    server.routes["/file"] = Reply(status=302, headers={"Location": "file:///etc/passwd"})
    error = fetch_fails(server.url("/file"), tmp_path / "ws3" / "ref", LOOPBACK, server)
    assert error.message == "the reference image URL redirects to a URL that is not http or https"


def test_server_errors_and_closed_ports_say_what_without_details(serve: Callable[..., Server], tmp_path: Path) -> None:
    server = serve("127.0.0.1", {"/gone": Reply(status=404), "/busy": Reply(status=503)})
    gone = fetch_fails(server.url("/gone"), tmp_path / "ws" / "ref", LOOPBACK, server)
    assert isinstance(gone, BadInput) and gone.message == "the reference image could not be fetched (HTTP 404)"
    busy = fetch_fails(server.url("/busy"), tmp_path / "ws" / "ref", LOOPBACK, server)
    assert busy.code == ExitCode.INTERNAL and busy.message == "the reference image could not be fetched (HTTP 503)"
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    closed = fetch_fails(f"http://127.0.0.1:{port}/ref.png", tmp_path / "ws" / "ref", LOOPBACK)
    assert closed.code == ExitCode.INTERNAL
    assert closed.message == "the reference image could not be fetched (connection failed)"
    assert str(port) not in closed.message


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/a.png", "the reference image URL must be http or https"),
        ("file:///etc/passwd", "the reference image URL must be http or https"),
        ("http:///a.png", "the reference image URL is not a valid URL"),
        ("http://example.com:99999/a.png", "the reference image URL is not a valid URL"),
    ],
)
def test_urls_that_are_not_http_are_refused(tmp_path: Path, url: str, message: str) -> None:
    error = fetch_fails(url, tmp_path / "ws" / "ref", FetchPolicy())
    assert isinstance(error, BadInput) and error.message == message


# --- names ---------------------------------------------------------------------------------------------------------


def test_a_name_resolving_to_a_refused_address_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    resolving(monkeypatch, {"images.example": [["10.1.2.3"]], "metadata.example": [["fd00:ec2::254"]]})
    error = fetch_fails("http://images.example/ref.png", tmp_path / "ws" / "ref", FetchPolicy())
    assert error.message == "the reference image URL's host resolves to a refused address range (private)"
    assert "10.1.2.3" not in error.message
    error = fetch_fails("https://metadata.example/latest", tmp_path / "ws" / "ref", FetchPolicy())
    assert error.message == "the reference image URL's host resolves to a refused address range (private)"


def test_one_refused_address_among_a_name_s_addresses_refuses_it(
    monkeypatch: pytest.MonkeyPatch, serve: Callable[..., Server], tmp_path: Path
) -> None:
    server = serve("127.0.0.1", {"/ref.png": Reply()})
    resolving(monkeypatch, {"images.example": [["127.0.0.1", "169.254.169.254"]]})
    policy = parse_policy('{"allowCidrs": ["127.0.0.1/32"]}')
    error = fetch_fails(server.url("/ref.png", host="images.example"), tmp_path / "ws" / "ref", policy, server)
    assert error.message == "the reference image URL's host resolves to a refused address range (link-local)"
    assert server.requests == []


def test_the_connection_goes_to_the_vetted_address_with_the_name_as_host(
    monkeypatch: pytest.MonkeyPatch, serve: Callable[..., Server], tmp_path: Path
) -> None:
    """DNS rebinding: a second lookup would answer an address nothing listens on; the fetch never asks again."""
    server = serve("127.0.0.1", {"/ref.png": Reply()})
    asked = resolving(monkeypatch, {"images.example": [["127.0.0.1"], ["127.0.0.9"]]})
    policy = parse_policy('{"allowCidrs": ["127.0.0.0/8"]}')
    guarded_fetch(server.url("/ref.png", host="images.example"), tmp_path / "ws" / "ref", policy)
    assert (tmp_path / "ws" / "ref").read_bytes() == PNG
    assert asked == ["images.example"]
    ((_, headers),) = server.requests
    assert headers["Host"] == f"images.example:{server.port}"


def test_a_redirect_to_a_name_is_looked_up_and_checked_again(
    monkeypatch: pytest.MonkeyPatch, serve: Callable[..., Server], tmp_path: Path
) -> None:
    refused = serve("127.0.0.1", {"/ref.png": Reply()})
    allowed = serve("127.0.0.2", {})
    location = refused.url("/ref.png", host="internal.example")
    allowed.routes["/ref.png"] = Reply(status=307, headers={"Location": location})
    resolving(monkeypatch, {"internal.example": [["127.0.0.1"]]})
    policy = parse_policy('{"allowCidrs": ["127.0.0.2/32"]}')
    error = fetch_fails(allowed.url("/ref.png"), tmp_path / "ws" / "ref", policy, refused, allowed)
    assert error.message == "the reference image URL redirects to a refused address range (loopback)"
    assert "internal.example" not in error.message and refused.requests == []


# --- TLS -----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A test CA and a server certificate it signed for images.example, made by the openssl command."""
    d = tmp_path_factory.mktemp("tls")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=test-ca", "-days", "2")
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=images.example")
    (d / "ext").write_text(
        "subjectAltName=DNS:images.example\nbasicConstraints=critical,CA:FALSE\nkeyUsage=digitalSignature\n"
        "extendedKeyUsage=serverAuth\nauthorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n"
    )
    openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "ext",
    )  # fmt: skip
    return {"ca": d / "ca.pem", "cert": d / "server.pem", "key": d / "server.key"}


def test_https_checks_the_certificate_for_the_url_s_host(
    monkeypatch: pytest.MonkeyPatch, serve: Callable[..., Server], tmp_path: Path, certificates: dict[str, Path]
) -> None:
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(certificates["cert"], certificates["key"])
    server = serve("127.0.0.1", {"/ref.png": Reply()}, tls)
    resolving(monkeypatch, {"images.example": [["127.0.0.1"]], "other.example": [["127.0.0.1"]]})
    policy = parse_policy('{"allowCidrs": ["127.0.0.1/32"]}')

    untrusted = fetch_fails(server.url("/ref.png", "images.example", "https"), tmp_path / "ws" / "ref", policy, server)
    assert untrusted.message == "the reference image could not be fetched (TLS certificate verification failed)"
    assert isinstance(untrusted, BadInput)

    system_context = ssl.create_default_context
    monkeypatch.setattr(ssl, "create_default_context", lambda: system_context(cafile=str(certificates["ca"])))
    guarded_fetch(server.url("/ref.png", "images.example", "https"), tmp_path / "ws" / "ref", policy)
    assert (tmp_path / "ws" / "ref").read_bytes() == PNG
    ((_, headers),) = server.requests
    assert headers["Host"] == f"images.example:{server.port}"
    # The certificate is checked against the URL's host, not the address connected to.
    for host in ("other.example", "127.0.0.1"):
        wrong = fetch_fails(server.url("/ref.png", host, "https"), tmp_path / "ws2" / "ref", policy, server)
        assert wrong.message == "the reference image could not be fetched (TLS certificate verification failed)"


# --- through the worker --------------------------------------------------------------------------------------------


def test_the_segment_refuses_a_loopback_url_unless_its_policy_allows_it(
    serve: Callable[..., Server], tmp_path: Path
) -> None:
    server = serve("127.0.0.1", {"/ref.png": Reply()})
    common = {"LV_BACKEND": "animatic", "LV_VARIANT": "film", "LV_WIDTH": "64", "LV_HEIGHT": "48", "LV_FRAMES": "9"}
    env = segment_env(
        tmp_path / "ws", 0, 1, **common, LV_PROMPT="x", LV_REFERENCE_IMAGE=json.dumps({"url": server.url("/ref.png")})
    )
    refused = run_cli(["segment"], env, tmp_path)
    assert refused.code == 2 and refused.termination is not None
    assert refused.termination["reason"] == "bad-input"
    assert refused.termination["error"] == (
        "the reference image URL's host resolves to a refused address range (loopback)"
    )
    assert_discreet(refused.stderr, server)
    assert server.requests == [] and not (tmp_path / "ws" / "inputs").exists()

    env["LV_FETCH_POLICY"] = json.dumps({"allowCidrs": ["127.0.0.0/8"]})
    assert run_cli(["segment"], env, tmp_path).code == 0
    assert [p.read_bytes() for p in (tmp_path / "ws" / "inputs").iterdir()] == [PNG]
