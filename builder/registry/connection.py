"""One registry host: its httpx client (TLS, proxies), scheme, auth, redirects and retries.

`send()` returns the final response whatever its status (callers decide what is an error)
after: answering auth challenges (once per request, with a fresh token), following
redirects (dropping Authorization when the host changes, e.g. to blob storage) and retrying
with backoff on connection errors, 408, 429 (Retry-After honoured) and 5xx.
"""

from __future__ import annotations

import email.utils
import functools
import logging
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpcore
import httpx
import tenacity

from builder.errors import RegistryError, TLSError
from builder.registry.auth import Authenticator
from builder.registry.credentials import DOCKER_HUB
from builder.registry.options import Credential, RegistryOptions, RetryPolicy
from builder.registry.plain_http import may_use_plain_http
from builder.registry.responses import registry_error

log = logging.getLogger(__name__)

KANIKO_CA_BUNDLE = Path("/kaniko/ssl/certs/ca-certificates.crt")
DOCKER_HUB_API_HOST = "registry-1.docker.io"
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MAX_REDIRECTS = 5

Content = bytes | Iterable[bytes]
ContentFactory = Callable[[], Content]
T = TypeVar("T")


ClientCert = tuple[str, str]
"""(certificate file, key file) this client shows a registry that asks (mutual TLS)."""


def ssl_context(host: str, options: RegistryOptions) -> ssl.SSLContext:
    """System CAs (SSL_CERT_FILE honoured by OpenSSL) plus kaniko's bundle and the host's
    extra CA files, and the host's client certificate; no verification only for hosts named
    insecure or skip-verify."""
    given = options.client_certs.get(host)
    client = (str(given[0]), str(given[1])) if given else None
    if host in options.skip_verify or host in options.insecure:
        return _unverified_context(client, host if client else "")
    extra = list(options.ca_files.get(host, ()))
    if KANIKO_CA_BUNDLE.is_file():
        extra.append(KANIKO_CA_BUNDLE)
    return _verifying_context(tuple(str(path) for path in extra), host, client)


@functools.cache
def _unverified_context(client: ClientCert | None = None, host: str = "") -> ssl.SSLContext:
    # No CA store to load: loading the system bundle costs ~0.1 s and would go unused.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if client:
        _load_client_cert(context, client, host)
    return context


def _load_client_cert(context: ssl.SSLContext, client: ClientCert, host: str) -> None:
    try:
        context.load_cert_chain(certfile=client[0], keyfile=client[1])
    except (OSError, ssl.SSLError) as err:
        raise TLSError(f"cannot load the client certificate {client[0]} (key {client[1]}) "
                       f"for {host}: {err}") from None


class _SystemCAsOnFirstUse(ssl.SSLContext):
    """A verifying context that loads the system CA store (~0.05-0.1 s) at its first TLS
    connection, not when it is made: a loopback registry that turns out to speak plain HTTP
    never pays for it. Until then it trusts nothing, so it fails closed."""

    _load_lock = threading.Lock()
    _loaded = False

    def _load_system_cas(self) -> None:
        with self._load_lock:
            if not self._loaded:
                self.load_default_certs(ssl.Purpose.SERVER_AUTH)
                self._loaded = True

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        self._load_system_cas()
        return super().wrap_socket(*args, **kwargs)

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        self._load_system_cas()
        return super().wrap_bio(*args, **kwargs)


_contexts: dict[tuple[str | None, ...], ssl.SSLContext] = {}
_contexts_lock = threading.Lock()


def _verifying_context(ca_files: tuple[str, ...], host: str,
                       client: ClientCert | None = None) -> ssl.SSLContext:  # fmt: skip
    """One context per set of CA files (and OpenSSL's CA variables) and client certificate
    for the whole process, safe to share; the system CAs load at its first TLS connection."""
    key = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"), *(client or ()),
           *ca_files)
    with _contexts_lock:
        context = _contexts.get(key)
        if context is None:
            # ssl.create_default_context()'s settings, minus its eager load_default_certs.
            context = _SystemCAsOnFirstUse(ssl.PROTOCOL_TLS_CLIENT)
            for path in ca_files:
                try:
                    context.load_verify_locations(cafile=path)
                except (OSError, ssl.SSLError) as err:
                    raise TLSError(f"cannot load CA file {path} for {host}: {err}") from None
            if client:
                _load_client_cert(context, client, host)
            _contexts[key] = context
        return context


def speaks_tls(network_host: str, timeout: float) -> bool:
    """Whether `host[:port]` (443 by default) answers a TLS handshake. Only the protocol is
    asked (no verification, no CA store); unreachable counts as yes, so the real request
    reports the failure."""
    url = httpx.URL(f"https://{network_host}/")
    try:
        with socket.create_connection((url.host, url.port or 443), timeout=timeout) as sock:
            with _unverified_context().wrap_socket(sock, server_hostname=url.host):
                return True
    except ssl.SSLError as err:
        return not _is_plain_http_answer(err)
    except OSError:
        return True


def _is_cert_failure(err: BaseException) -> bool:
    return "CERTIFICATE_VERIFY_FAILED" in str(err) or isinstance(err.__cause__, ssl.SSLCertVerificationError)


def _is_client_cert_refusal(err: BaseException) -> bool:
    """The server's TLS alert for a missing or untrusted client certificate (mutual TLS)."""
    text = str(err).upper()
    return any(alert in text for alert in (
        "CERTIFICATE_REQUIRED", "ALERT_BAD_CERTIFICATE", "ALERT_UNKNOWN_CA",
        "ALERT_CERTIFICATE_UNKNOWN",
    ))


def _is_plain_http_answer(err: BaseException) -> bool:
    text = str(err)
    return "WRONG_VERSION_NUMBER" in text or "record layer failure" in text or "packet length too long" in text


def transport_error(host: str, err: httpx.HTTPError) -> RegistryError:
    if _is_cert_failure(err):
        reason = str(err).split("certificate verify failed:", 1)[-1].strip(" )") or str(err)
        return TLSError(
            f"TLS certificate of {host} is not trusted: {reason}",
            hint=f"add its CA with --registry-certificate {host}=/path/to/ca.crt or SSL_CERT_FILE "
            f"(or skip verification with --skip-tls-verify-registry {host})",
        )
    if _is_plain_http_answer(err):
        return TLSError(
            f"{host} does not speak TLS: {err}",
            hint=f"if it serves plain HTTP, name it insecure: --insecure-registry {host}",
        )
    if _is_client_cert_refusal(err):
        return TLSError(
            f"{host} refused the TLS connection: it wants a client certificate it trusts ({err})",
            hint=f"give one with --registry-client-cert "
            f"{host}=/path/to/client.crt,/path/to/client.key",
        )
    return RegistryError(f"cannot reach registry {host}: {type(err).__name__}: {err}")


def retry_after_seconds(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _retryable_error(err: BaseException) -> bool:
    return isinstance(err, httpx.TransportError) and not _is_cert_failure(err) and not _is_plain_http_answer(err)


def _retryable_response(response: httpx.Response) -> bool:
    return response.status_code in RETRY_STATUSES


def retrying(policy: RetryPolicy, what: str) -> tenacity.Retrying:
    backoff = tenacity.wait_random_exponential(multiplier=policy.initial_delay, max=policy.max_delay)

    def wait(state: tenacity.RetryCallState) -> float:
        outcome = state.outcome
        if outcome is not None and not outcome.failed:
            after = retry_after_seconds(outcome.result())
            if after is not None:
                return min(after, policy.max_delay)
        return backoff(state)

    def before_sleep(state: tenacity.RetryCallState) -> None:
        outcome = state.outcome
        if outcome is None:
            return
        if outcome.failed:
            problem = f"{type(outcome.exception()).__name__}: {outcome.exception()}"
        else:
            response = outcome.result()
            response.close()
            problem = f"status {response.status_code}"
        log.warning("%s: %s; retry %d in %.1fs", what, problem, state.attempt_number, state.upcoming_sleep)

    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.attempts) | tenacity.stop_after_delay(policy.max_seconds),
        wait=wait,
        retry=tenacity.retry_if_exception(_retryable_error) | tenacity.retry_if_result(_retryable_response),
        before_sleep=before_sleep,
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
        reraise=True,
    )


def retrying_body(policy: RetryPolicy, what: str) -> tenacity.Retrying:
    """For a read whose body breaks after the status arrived (send() has retried the
    request itself): the whole request and read are repeated."""

    def before_sleep(state: tenacity.RetryCallState) -> None:
        if state.outcome is not None:
            err = state.outcome.exception()
            log.warning("%s: %s: %s; retry %d", what, type(err).__name__, err, state.attempt_number)

    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.attempts) | tenacity.stop_after_delay(policy.max_seconds),
        wait=tenacity.wait_random_exponential(multiplier=policy.initial_delay, max=policy.max_delay),
        retry=tenacity.retry_if_exception(_retryable_error),
        before_sleep=before_sleep,
        reraise=True,
    )


SOCKET_READ_BYTES = 1 << 20


@functools.cache
def _use_big_socket_reads() -> None:
    """httpcore reads responses 64 KiB at a time, with a few copies of each read in h11;
    1 MiB reads halve the CPU time of a blob download. The attribute is httpcore's own knob
    (a class constant), there is no per-client setting."""
    if getattr(httpcore.HTTP11Connection, "READ_NUM_BYTES", SOCKET_READ_BYTES) < SOCKET_READ_BYTES:
        httpcore.HTTP11Connection.READ_NUM_BYTES = SOCKET_READ_BYTES


class HostConnection:
    """Everything about talking to one registry host. Thread-safe."""

    def __init__(self, host: str, options: RegistryOptions, credential: Credential | None) -> None:
        self.host = host
        self.options = options
        self.network_host = DOCKER_HUB_API_HOST if host == DOCKER_HUB else host
        _use_big_socket_reads()
        # HTTP/1.1 only (no h2 dependency): blobs dominate the traffic, and h2's pure-Python
        # framing (16 KiB frames, flow-control windows) moved them several times slower;
        # threads get one connection each from the pool instead of multiplexing.
        self._client = httpx.Client(
            verify=ssl_context(host, options),
            trust_env=True,
            timeout=httpx.Timeout(options.timeout, connect=min(options.timeout, 30.0)),
            follow_redirects=False,
        )
        self.auth = Authenticator(host, credential, self._client)
        self._base: str | None = None
        self._base_lock = threading.Lock()

    def close(self) -> None:
        self._client.close()

    @property
    def base_url(self) -> str:
        with self._base_lock:
            if self._base is None:
                self._base = self._ping()
            return self._base

    def _ping(self) -> str:
        """Pick the scheme (HTTPS first; HTTP only where `may_use_plain_http` allows) and
        learn the auth challenge up front, so no request body is sent only to be refused.
        A loopback registry is first asked whether it speaks TLS at all (a handshake
        without verification): one that answers in plain HTTP costs no CA store load."""
        ping = retrying(self.options.retry, f"connect to {self.host}")
        plain_allowed = may_use_plain_http(self.host, self.options)
        verifying = self.host not in self.options.skip_verify | self.options.insecure
        base = f"https://{self.network_host}"
        connect_timeout = min(self.options.timeout, 30.0)
        if plain_allowed and verifying and not speaks_tls(self.network_host, connect_timeout):
            base = f"http://{self.network_host}"
        try:
            response = ping(self._send_raw, "GET", f"{base}/v2/", {}, None, False)
        except httpx.HTTPError as err:
            if (base.startswith("http:") or not plain_allowed or _is_cert_failure(err)
                    or _is_client_cert_refusal(err)):
                raise transport_error(self.host, err) from None
            base = f"http://{self.network_host}"
            try:
                response = ping(self._send_raw, "GET", f"{base}/v2/", {}, None, False)
            except httpx.HTTPError as err2:
                raise transport_error(self.host, err2) from None
        if response.status_code == 401:
            self.auth.learn(response)
        return base

    def read(self, what: str, read_once: Callable[[], T]) -> T:
        """`read_once()` (a send() and the read of its streamed body), repeated when the
        body breaks off; a lasting failure becomes our error."""
        try:
            return retrying_body(self.options.retry, what)(read_once)
        except httpx.HTTPError as err:
            raise transport_error(self.host, err) from None

    def url(self, path: str) -> str:
        return path if "://" in path else f"{self.base_url}{path}"

    def send(
        self,
        method: str,
        path: str,
        *,
        scopes: tuple[str, ...],
        what: str,
        headers: Mapping[str, str] | None = None,
        content: ContentFactory | None = None,
        stream: bool = False,
        retry: bool = True,
    ) -> httpx.Response:
        """`retry=False` for requests whose repetition needs the caller's judgement (a
        chunk of an upload: the registry may have stored part of it)."""
        url = self.url(path)
        call_args = (method, url, scopes, dict(headers or {}), content, stream)
        try:
            if not retry:
                return self._send_authorized(*call_args)
            return retrying(self.options.retry, what)(self._send_authorized, *call_args)
        except httpx.HTTPError as err:
            raise transport_error(self.host, err) from None

    def check(
        self, response: httpx.Response, ok: Iterable[int], what: str, scopes: tuple[str, ...]
    ) -> httpx.Response:
        """Return `response` if its status is in `ok`, else raise the matching error."""
        if response.status_code in ok:
            return response
        try:
            response.read()
        except httpx.TransportError:
            pass  # the error body is only a detail; the status says enough
        response.close()
        raise registry_error(response, what, scopes=scopes, credential_source=self.auth.credential_source)

    def _send_authorized(
        self,
        method: str,
        url: str,
        scopes: tuple[str, ...],
        headers: dict[str, str],
        content: ContentFactory | None,
        stream: bool,
    ) -> httpx.Response:
        for retry_auth in (True, False):
            authorization = self.auth.header(scopes)
            if authorization:
                headers["Authorization"] = authorization
            response = self._send_raw(method, url, headers, content, stream)
            if response.status_code != 401 or not retry_auth or not self.auth.learn(response):
                return response
            # A rejected token may just have expired: drop it and ask once more.
            self.auth.forget(scopes)
            response.close()
        return response

    def _send_raw(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        content: ContentFactory | None,
        stream: bool,
    ) -> httpx.Response:
        origin = httpx.URL(url).netloc
        for _ in range(MAX_REDIRECTS + 1):
            request = self._client.build_request(
                method, url, headers=headers, content=content() if content else None
            )
            response = self._client.send(request, stream=stream)
            location = response.headers.get("Location")
            if response.status_code not in (301, 302, 303, 307, 308) or not location:
                return response
            response.close()
            url = str(request.url.join(location))
            if httpx.URL(url).netloc != origin:
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            if response.status_code == 303:
                method, content = "GET", None
        raise RegistryError(f"{self.host}: more than {MAX_REDIRECTS} redirects for {url}")
