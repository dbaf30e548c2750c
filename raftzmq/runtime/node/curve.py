"""CURVE authentication between nodes: keypair files, socket options, and a ZAP handler the node polls itself.

Why this shape (see STYLE.md, ZeroMQ notes: "without a ZAP handler a CURVE server accepts any client key"):
- Each node's ROUTER is a CURVE server. A connecting DEALER must prove it holds a secret key, and libzmq asks
  the ZAP handler of the ROUTER's context whether that client's public key may connect. The handler accepts only
  the cluster's public keys; any other key fails the handshake, so its frames never exist on our side, let alone
  reach the codec.
- The handler is one REP socket bound at inproc://zeromq.zap.01 in the node's own context and registered in the
  node's single-threaded poll loop (no authenticator thread). A handshake simply waits until the loop answers,
  which it does on the next wake-up.
- An accepted connection carries the member id as its ZAP User-Id, so the transport can also refuse a frame whose
  claimed sender (`s`) is not the member whose key authenticated the connection: member 2 cannot speak for 3.
- Every DEALER is a CURVE client that knows its server's public key, so a node also never talks to an impostor.
"""
from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import zmq
from zmq.utils import z85

__all__ = ["AUTH_MODES", "CurveError", "Keypair", "CurveSettings", "ZapHandler", "ZAP_ENDPOINT", "ZAP_DOMAIN",
           "generate_keypair", "write_keypair", "load_keypair", "check_public_key", "key_path"]

AUTH_MODES = ("none", "curve")
ZAP_ENDPOINT = "inproc://zeromq.zap.01"  # fixed by the ZAP specification (RFC 27)
ZAP_DOMAIN = b"raftzmq"
ZAP_BATCH = 16  # ZAP requests answered per wake-up (a connect storm cannot starve the rest of the loop)
_Z85_KEY_LEN = 40


class CurveError(Exception):
    """A key file that is missing, unreadable, readable by others, or malformed."""


@dataclass(frozen=True, slots=True)
class Keypair:
    public: bytes  # Z85, 40 bytes
    secret: bytes


@dataclass(frozen=True, slots=True)
class CurveSettings:
    """What a node's transport needs: its own keypair and every member's public key (Z85)."""
    keypair: Keypair
    public_keys: Mapping[int, bytes]


def key_path(directory: Path, node_id: int) -> Path:
    return directory / f"node-{node_id}.key"


def check_public_key(text: object, where: str) -> bytes:
    """A Z85 public key as bytes, or CurveError naming `where`."""
    if not isinstance(text, str) or len(text) != _Z85_KEY_LEN:
        raise CurveError(f"{where}: a public key is {_Z85_KEY_LEN} Z85 characters, got {text!r}")
    try:
        z85.decode(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError, KeyError):
        raise CurveError(f"{where}: {text!r} is not a Z85 key") from None
    return text.encode("ascii")


def generate_keypair() -> Keypair:
    public, secret = zmq.curve_keypair()
    return Keypair(public, secret)


def write_keypair(path: Path, keypair: Keypair) -> None:
    """Create `path` (mode 0600, never overwriting) holding the keypair as JSON."""
    doc = json.dumps({"public": keypair.public.decode(), "secret": keypair.secret.decode()}) + "\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise CurveError(f"{path}: a key file already exists; refusing to overwrite it") from None
    except OSError as exc:
        raise CurveError(f"{path}: cannot create key file: {exc.strerror}") from None
    with os.fdopen(fd, "w") as f:
        f.write(doc)
        f.flush()
        os.fsync(f.fileno())


def load_keypair(path: Path) -> Keypair:
    """Read a key file; refuse one that others may read (a leaked secret key is a member's identity)."""
    try:
        mode = os.stat(path).st_mode
        text = Path(path).read_text()
    except OSError as exc:
        raise CurveError(f"{path}: cannot read key file: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CurveError(f"{path}: key file mode is {stat.S_IMODE(mode):04o}; it must be 0600 (chmod 600 {path})")
    try:
        doc = json.loads(text)
        public = check_public_key(doc["public"], str(path))
        secret = check_public_key(doc["secret"], str(path))
    except (ValueError, KeyError, TypeError):
        raise CurveError(f"{path}: not a raftzmq key file (JSON with 'public' and 'secret')") from None
    if zmq.curve_public(secret) != public:
        raise CurveError(f"{path}: the public key does not belong to the secret key")
    return Keypair(public, secret)


def make_server(sock: zmq.Socket, keypair: Keypair) -> None:
    sock.setsockopt(zmq.CURVE_SERVER, 1)
    sock.setsockopt(zmq.CURVE_SECRETKEY, keypair.secret)
    sock.setsockopt(zmq.CURVE_PUBLICKEY, keypair.public)
    sock.setsockopt(zmq.ZAP_DOMAIN, ZAP_DOMAIN)
    if hasattr(zmq, "ZAP_ENFORCE_DOMAIN"):
        sock.setsockopt(zmq.ZAP_ENFORCE_DOMAIN, 1)  # no handler bound = refuse, never "accept anyone"


def make_client(sock: zmq.Socket, keypair: Keypair, server_public: bytes) -> None:
    sock.setsockopt(zmq.CURVE_SERVERKEY, server_public)
    sock.setsockopt(zmq.CURVE_PUBLICKEY, keypair.public)
    sock.setsockopt(zmq.CURVE_SECRETKEY, keypair.secret)


class ZapHandler:
    """Answers ZAP requests for one context: 200 with User-Id = member id for a member's key, 400 otherwise.

    `on_reject(reason, address, key)` is called for every refused handshake (the node logs and counts it).
    Bind it (`open`) before any CURVE server socket of the context binds.
    """

    def __init__(self, ctx: zmq.Context, public_keys: Mapping[int, bytes],
                 on_reject: Callable[[str, str, str], None]) -> None:
        self.ctx, self.on_reject = ctx, on_reject
        self.members = {key: node for node, key in public_keys.items()}
        self.socket: zmq.Socket | None = None

    def open(self) -> None:
        sock = self.ctx.socket(zmq.REP)
        sock.setsockopt(zmq.LINGER, 0)
        sock.bind(ZAP_ENDPOINT)
        self.socket = sock

    def close(self) -> None:
        if self.socket is not None:
            self.socket.close(linger=0)
            self.socket = None

    def handle(self) -> int:
        """Answer waiting requests without blocking; returns how many were answered."""
        assert self.socket is not None, "open() first"
        for answered in range(ZAP_BATCH):
            try:
                request = self.socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return answered
            self.socket.send_multipart(self._reply(request))
        return ZAP_BATCH

    def _reply(self, request: list[bytes]) -> list[bytes]:
        if len(request) < 6:
            return [b"1.0", b"", b"500", b"malformed ZAP request", b"", b""]
        version, request_id, domain, address, _identity, mechanism = request[:6]
        credentials = request[6:]
        verdict = self._verdict(version, domain, mechanism, credentials)
        if isinstance(verdict, int):
            return [b"1.0", request_id, b"200", b"OK", str(verdict).encode(), b""]
        key = z85.encode(credentials[0]).decode() if mechanism == b"CURVE" and credentials else ""
        self.on_reject(verdict, address.decode("utf-8", "replace"), key)
        return [b"1.0", request_id, b"400", verdict.encode(), b"", b""]

    def _verdict(self, version: bytes, domain: bytes, mechanism: bytes, credentials: list[bytes]) -> int | str:
        """The member id the client proved to be, or why it is refused."""
        if version != b"1.0":
            return "bad_zap_version"
        if domain != ZAP_DOMAIN:
            return "wrong_domain"
        if mechanism != b"CURVE" or len(credentials) != 1 or len(credentials[0]) != 32:
            return "not_curve"
        node = self.members.get(z85.encode(credentials[0]))
        return "unknown_key" if node is None else node


def settings_for_node(cluster: Mapping[str, object], directory: Path, node_id: int) -> CurveSettings | None:
    """CURVE settings of node `node_id` from its cluster.json (None when `auth` is "none" or absent).

    The secret key is `key_file` if cluster.json names one (a node on its own host), else node-<id>.key in the
    run directory (a supervised run generates those)."""
    auth = cluster.get("auth", "none")
    if auth not in AUTH_MODES:
        raise CurveError(f"auth must be one of {', '.join(AUTH_MODES)}, got {auth!r}")
    if auth == "none":
        return None
    raw = cluster.get("public_keys")
    if not isinstance(raw, Mapping):
        raise CurveError("auth is curve but cluster.json has no public_keys")
    try:
        public = {int(n): check_public_key(k, f"public key of node {n}") for n, k in raw.items()}
    except ValueError:
        raise CurveError(f"public_keys must map node ids to keys, got {sorted(raw)!r}") from None
    key_file = cluster.get("key_file")
    keypair = load_keypair(Path(key_file) if isinstance(key_file, str) else key_path(directory, node_id))
    if public.get(node_id) != keypair.public:
        raise CurveError(f"the key file's public key is not node {node_id}'s public key in the cluster")
    return CurveSettings(keypair, public)


def ensure_keys(directory: Path, members: tuple[int, ...]) -> dict[int, str]:
    """One keypair file per member in `directory` (created if missing, reused on resume); their public keys."""
    public: dict[int, str] = {}
    for node in members:
        path = key_path(directory, node)
        if not path.exists():
            write_keypair(path, generate_keypair())
        public[node] = load_keypair(path).public.decode()
    return public
