"""The key-value state machine behind the replicated log (issue 19), pure: bytes in, results out.

Every replica applies the same committed entries in log order through `KVStore.apply(index, data)` and so
reaches the same state and the same results. Nothing here reads a clock, a socket or a file.

Operations (the kv model of evidence/lincheck.py and docs/history-format.md, exactly):
    get k            the value, None when absent
    put k v          set (put of null makes the key absent, as the model says)
    delete k         absent again
    cas k [a, b]     set to b iff the value is a (a None: "absent"); otherwise a definite `fail` (no change)
    append k v       absent -> v; str + str concatenates; on a list, a list v extends it and anything else is
                     added as one element; anything else (a number, str + list, ...) is a definite `fail`
Values are JSON values compared with JSON's equality (true is not 1, lists by content): see `canon`.

Command encoding (Entry.data; big-endian, strict, `decode_command` rejects anything else):
    u8  version (COMMAND_VERSION = 1)
    u8  op: 0 register, 1 get, 2 put, 3 delete, 4 cas, 5 append
    u64 client    session id (0: no session: get and register, and only they)
    u64 seq       the client's sequence number for this command (>= 1 with a session, else 0)
    u64 stamp     the leader's proposal time in ns (see "Sessions")
    u16 key length, key (UTF-8, <= MAX_KEY_BYTES; empty for register)
    then per op: put/append: one value; cas: two values (from, to); a value is u32 length + UTF-8 JSON text
    (<= MAX_VALUE_BYTES); get/delete/register: nothing. No trailing bytes.
The empty entry (the leader's no-op on election) is skipped: it changes nothing and gives no result.

Sessions (Raft thesis 6.3, LogCabin): a client registers first (op register, applied through the log); its
session id is the log index of that entry, so ids are unique and the same on every replica. Each write carries
(client, seq). The store remembers per session the highest seq applied and its result: a command with that seq
again is not applied again and gets its first result back; a lower seq gets `STALE` (its result was dropped;
the client has moved on); a command for an unknown (never registered, or expired) session gets
`SESSION_EXPIRED` and is not applied, because the store cannot tell whether it is a retry of a command applied
before the session expired. One command per session in flight: the Python client is synchronous.

Expiry by a replicated rule. Each command carries `stamp`, the proposal time the *leader* put in it (the node
stamps it; the client cannot). The store keeps `log_time = max(log_time, stamp)` over the applied entries, so
log time never goes backwards even when a new leader's clock is behind the old one's, and a session idle for
more than `session_ttl_ns` of log time is dropped when an entry moves log time past it; at most `max_sessions`
are kept (the one idle longest goes first, ties by id). Everything the rule reads is in the log, so every
replica drops the same sessions at the same index, and a replica that replays the log (restart, snapshot plus
suffix) drops them again at the same place. A local clock would not do: replicas apply an entry at different
wall times, a restarted replica replays old entries much later, so a session would be alive on one replica and
gone on another, and a retried command would apply on one and not on the other - the replicas' states diverge.

Reads (the ReadIndex interface the node needs from the store):
    A linearizable get need not go through the log. The node asks its core for a read index r (the leader's
    commit index once its leadership is confirmed by a heartbeat quorum: `core.read_index(ctx, now)`, answered
    in a Ready's `reads` as ReadState(ctx, r, leader); protocol/kvservice.py drives it), then answers the get with
    `store.read(key)` once `store.applied_index >= r`. `PendingReads` holds the waiting reads and releases
    them in applied-index order: `add(r, token)`, and after each apply `ready(store.applied_index)` gives the
    tokens to answer now. A get may also be proposed through the log (op get, client 0); then its result is
    the value at its log position.

`snapshot()` is a plain JSON-able dict of the whole state (data, sessions in idle order, log time, applied
index); `KVStore.restore(snap)` rebuilds an identical store.
"""
from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from typing import Any

__all__ = ["COMMAND_VERSION", "MAX_KEY_BYTES", "MAX_VALUE_BYTES", "MAX_COMMAND_BYTES", "DEFAULT_SESSION_TTL_NS",
           "DEFAULT_MAX_SESSIONS", "OPS", "OP_CODES", "WRITE_OPS", "CommandError", "Command", "Result",
           "OK", "FAIL", "SESSION_EXPIRED", "STALE", "INVALID", "encode_command", "decode_command",
           "validate_value", "check_key", "check_command", "encode_body", "decode_body", "canon", "encode_value", "decode_value", "KVStore", "PendingReads"]

COMMAND_VERSION = 1
MAX_KEY_BYTES = 256
MAX_VALUE_BYTES = 64 * 1024
MAX_COMMAND_BYTES = 1 + 1 + 8 * 3 + 2 + MAX_KEY_BYTES + 2 * (4 + MAX_VALUE_BYTES)
DEFAULT_SESSION_TTL_NS = 3600 * 10**9  # an hour of log time
DEFAULT_MAX_SESSIONS = 100_000
MAX_U64 = (1 << 64) - 1

OPS = ("register", "get", "put", "delete", "cas", "append")
OP_CODES = {name: code for code, name in enumerate(OPS)}
WRITE_OPS = frozenset({"put", "delete", "cas", "append"})
_VALUES = {"register": 0, "get": 0, "put": 1, "delete": 0, "cas": 2, "append": 1}
_HEAD = struct.Struct(">BBQQQH")

# result statuses
OK = "ok"  # applied (or a get): `value` is the result
FAIL = "fail"  # certainly not applied: a cas that found another value, an append to a number (`value`: current)
SESSION_EXPIRED = "session_expired"  # unknown session: not applied; the client must register again
STALE = "stale"  # a seq below the session's last: an old retry; not applied, its result is gone
INVALID = "invalid"  # the entry's bytes are not a command (never proposed by a correct node): nothing changes


class CommandError(ValueError):
    """A command that cannot be encoded or decoded: one line saying what is wrong."""


@dataclass(frozen=True, slots=True)
class Command:
    op: str
    key: str = ""
    value: Any = None  # put/append: the value; cas: the expected value
    new: Any = None  # cas: the new value
    client: int = 0
    seq: int = 0
    stamp: int = 0  # the leader's proposal time (ns); set by the node when it proposes


@dataclass(frozen=True, slots=True)
class Result:
    status: str
    value: Any = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == OK


def canon(value: Any) -> Any:
    """A hashable form with JSON's equality (true is not 1, lists by content), as lincheck compares values."""
    if value is None or isinstance(value, str) or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return value
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, list):
        return ("l", tuple(canon(v) for v in value))
    return ("d", json.dumps(value, sort_keys=True, separators=(",", ":")))


def validate_value(value: Any, what: str = "value") -> bytes:
    """The value's JSON text, or CommandError (not JSON, NaN/inf, too large)."""
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise CommandError(f"{what} is not a JSON value ({exc})") from None
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:
        raise CommandError(f"{what} is not valid Unicode") from None
    if len(raw) > MAX_VALUE_BYTES:
        raise CommandError(f"{what} is {len(raw)} bytes as JSON; the limit is {MAX_VALUE_BYTES}")
    return raw


def encode_value(value: Any, what: str = "value") -> bytes:
    raw = validate_value(value, what)
    return len(raw).to_bytes(4, "big") + raw


def _finite(value: Any) -> bool:
    if type(value) is int or type(value) is str:  # (the common values: nothing to walk)
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    return True


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)  # one for all (json.loads with options builds one a call)


def decode_value(raw: bytes, what: str = "value") -> Any:
    if len(raw) > MAX_VALUE_BYTES:
        raise CommandError(f"{what} is {len(raw)} bytes; the limit is {MAX_VALUE_BYTES}")
    try:
        value = _DECODER.decode(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CommandError(f"{what} is not UTF-8 JSON ({str(exc).splitlines()[0][:60]})") from None
    if not _finite(value):
        raise CommandError(f"{what} is not finite JSON")
    return value


def check_key(key: Any) -> bytes:
    if not isinstance(key, str):
        raise CommandError(f"a key is a string, got {type(key).__name__}")
    try:
        raw = key.encode("utf-8")
    except UnicodeEncodeError:
        raise CommandError("the key is not valid Unicode") from None
    if len(raw) > MAX_KEY_BYTES:
        raise CommandError(f"the key is {len(raw)} bytes; the limit is {MAX_KEY_BYTES}")
    return raw


def check_command(cmd: Command) -> None:
    """The rules both encode and decode enforce (CommandError)."""
    if cmd.op not in OP_CODES:
        raise CommandError(f"unknown op {cmd.op!r} (ops: {', '.join(OPS[1:])})")
    for name, v in (("client", cmd.client), ("seq", cmd.seq), ("stamp", cmd.stamp)):
        if not (isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_U64):
            raise CommandError(f"{name} must be an integer in 0..2**64-1, got {v!r}")
    _check_shape(cmd)


def _check_shape(cmd: Command) -> None:
    """check_command's rules after its integer ranges (which a decoded command meets by construction)."""
    if cmd.op == "register":
        if cmd.client or cmd.seq or cmd.key:
            raise CommandError("register takes no client, seq or key")
    elif cmd.op in WRITE_OPS:
        if cmd.client == 0 or cmd.seq == 0:
            raise CommandError(f"{cmd.op} needs a session: client and seq >= 1 (register first)")
    elif cmd.client or cmd.seq:
        raise CommandError(f"{cmd.op} takes no session (client 0, seq 0)")
    if _VALUES[cmd.op] < 2 and cmd.new is not None:
        raise CommandError(f"{cmd.op} takes no second value")
    if _VALUES[cmd.op] == 0 and cmd.value is not None:
        raise CommandError(f"{cmd.op} takes no value")
    if cmd.op == "append" and not isinstance(cmd.value, (str, list)):
        raise CommandError(f"an append value is a string or a list, got {type(cmd.value).__name__}")


def encode_body(cmd: Command) -> bytes:
    """op, client, seq, stamp, key and values (everything after the version byte)."""
    check_command(cmd)
    key = check_key(cmd.key)
    head = _HEAD.pack(COMMAND_VERSION, OP_CODES[cmd.op], cmd.client, cmd.seq, cmd.stamp, len(key))[1:]
    values = [cmd.value, cmd.new][:_VALUES[cmd.op]]
    names = ["the value", "the new value"] if cmd.op == "cas" else ["the value"]
    return head + key + b"".join(encode_value(v, n) for v, n in zip(values, names))


def encode_command(cmd: Command) -> bytes:
    """The bytes of Entry.data for `cmd`; CommandError before anything is proposed if it breaks a rule."""
    return bytes([COMMAND_VERSION]) + encode_body(cmd)


def decode_body(data: bytes, at: int, what: str = "command") -> tuple[Command, int]:
    """Decode op..values starting at `at`; returns the command and the offset after it."""
    size = _HEAD.size - 1
    if len(data) - at < size:
        raise CommandError(f"{what} is truncated ({len(data)} bytes)")
    op_code, client, seq, stamp, klen = struct.unpack_from(">BQQQH", data, at)
    at += size
    if op_code >= len(OPS):
        raise CommandError(f"unknown op code {op_code}")
    op = OPS[op_code]
    if klen > MAX_KEY_BYTES:
        raise CommandError(f"the key is {klen} bytes; the limit is {MAX_KEY_BYTES}")
    if len(data) - at < klen:
        raise CommandError(f"{what} is truncated in its key")
    try:
        key = data[at:at + klen].decode("utf-8")
    except UnicodeDecodeError:
        raise CommandError("the key is not UTF-8") from None
    at += klen
    values: list[Any] = []
    for n in range(_VALUES[op]):
        if len(data) - at < 4:
            raise CommandError(f"{what} is truncated in a value length")
        vlen = int.from_bytes(data[at:at + 4], "big")
        at += 4
        if vlen > MAX_VALUE_BYTES:
            raise CommandError(f"a value is {vlen} bytes; the limit is {MAX_VALUE_BYTES}")
        if len(data) - at < vlen:
            raise CommandError(f"{what} is truncated in a value")
        values.append(decode_value(data[at:at + vlen], "the new value" if n else "the value"))
        at += vlen
    values += [None] * (2 - len(values))
    cmd = Command(op, key, values[0], values[1], client, seq, stamp)
    _check_shape(cmd)  # (op is one of OPS, and client/seq/stamp are u64 from the struct)
    return cmd, at


def decode_command(data: bytes) -> Command:
    """Strict inverse of encode_command; CommandError on anything else (empty data is the no-op: not a command)."""
    if not data:
        raise CommandError("empty data is the no-op entry, not a command")
    if len(data) > MAX_COMMAND_BYTES:
        raise CommandError(f"command is {len(data)} bytes; the limit is {MAX_COMMAND_BYTES}")
    if data[0] != COMMAND_VERSION:
        raise CommandError(f"unknown command version {data[0]} (this store reads {COMMAND_VERSION})")
    cmd, at = decode_body(data, 1)
    if at != len(data):
        raise CommandError(f"{len(data) - at} trailing bytes after the command")
    return cmd


_ABSENT = object()


def _append(state: Any, value: Any) -> Any:
    if state is None:
        return value
    if isinstance(state, str) and isinstance(value, str):
        return state + value
    if isinstance(state, list):
        return state + value if isinstance(value, list) else state + [value]
    return _ABSENT


@dataclass(slots=True)
class _Session:
    last_seq: int
    result: Result | None  # of last_seq (None: only registered)
    last_active: int  # log time of its last command


class KVStore:
    """The replicated state machine. Apply committed entries with `apply(index, data)`, strictly in log order."""

    def __init__(self, session_ttl_ns: int = DEFAULT_SESSION_TTL_NS,
                 max_sessions: int = DEFAULT_MAX_SESSIONS) -> None:
        if session_ttl_ns <= 0 or max_sessions <= 0:
            raise ValueError("session_ttl_ns and max_sessions must be positive")
        self.session_ttl_ns = session_ttl_ns
        self.max_sessions = max_sessions
        self.data: dict[str, Any] = {}
        self.sessions: dict[int, _Session] = {}  # in order of last activity (oldest first)
        self.log_time = 0
        self.applied_index = 0
        self.expired = 0  # sessions dropped so far (by age or by the bound)

    # ---------------------------------------------------------------- applying
    def apply(self, index: int, data: bytes, decoded: Command | None = None) -> Result | None:
        """Apply the committed entry at `index` (must be applied_index + 1). None for the no-op entry.
        `decoded`: `decode_command(data)` when the caller has it already (the node that proposed the entry)."""
        if index != self.applied_index + 1:
            raise ValueError(f"entry {index} applied after {self.applied_index}: entries apply in log order")
        self.applied_index = index
        if not data:
            return None
        if decoded is not None:
            cmd = decoded
        else:
            try:
                cmd = decode_command(data)
            except CommandError as exc:
                return Result(INVALID, None, str(exc))
        if cmd.stamp > self.log_time:
            self.log_time = cmd.stamp
            self._expire()
        return self._apply(index, cmd)

    def _expire(self) -> None:
        horizon = self.log_time - self.session_ttl_ns
        while self.sessions:
            sid, first = next(iter(self.sessions.items()))
            if first.last_active >= horizon and len(self.sessions) <= self.max_sessions:
                break
            del self.sessions[sid]
            self.expired += 1

    def _touch(self, sid: int, session: _Session) -> None:
        session.last_active = self.log_time
        self.sessions.pop(sid, None)
        self.sessions[sid] = session

    def _apply(self, index: int, cmd: Command) -> Result:
        if cmd.op == "register":
            self._touch(index, _Session(0, None, self.log_time))
            self._expire()  # the bound on the number of sessions (drops the one idle longest, never this one)
            return Result(OK, index)
        if cmd.op == "get":  # no session (check_command allows nothing else): the value at this log position
            return Result(OK, self.data.get(cmd.key))
        session = self.sessions.get(cmd.client)
        if session is None:
            return Result(SESSION_EXPIRED, None, f"session {cmd.client} is unknown or expired: register again")
        if cmd.seq < session.last_seq:
            return Result(STALE, None, f"seq {cmd.seq} is below the session's last {session.last_seq}")
        self._touch(cmd.client, session)
        if cmd.seq == session.last_seq and session.result is not None:
            return session.result  # a retry: not applied again, the first result
        result = self._execute(cmd)
        session.last_seq, session.result = cmd.seq, result
        return result

    def _execute(self, cmd: Command) -> Result:
        key, current = cmd.key, self.data.get(cmd.key)
        if cmd.op == "get":
            return Result(OK, current)
        if cmd.op == "put" or cmd.op == "delete":
            self._set(key, cmd.value if cmd.op == "put" else None)
            return Result(OK, None)
        if cmd.op == "cas":
            if canon(current) != canon(cmd.value):
                return Result(FAIL, current, "cas: the value is not the expected one")
            self._set(key, cmd.new)
            return Result(OK, None)
        new = _append(current, cmd.value)
        if new is _ABSENT:
            return Result(FAIL, current, f"append: cannot append {type(cmd.value).__name__} to "
                                         f"{type(current).__name__}")
        self._set(key, new)
        return Result(OK, None)

    def _set(self, key: str, value: Any) -> None:
        if value is None:
            self.data.pop(key, None)
        else:
            self.data[key] = value

    # ---------------------------------------------------------------- reads
    def read(self, key: str) -> Any:
        """The value of `key` at applied_index (None when absent): the answer to a ReadIndex get."""
        return self.data.get(key)

    # ---------------------------------------------------------------- snapshots
    def snapshot(self) -> dict[str, Any]:
        return {"version": 1, "applied_index": self.applied_index, "log_time": self.log_time,
                "session_ttl_ns": self.session_ttl_ns, "max_sessions": self.max_sessions, "expired": self.expired,
                "data": {k: v for k, v in sorted(self.data.items())},
                "sessions": [[sid, s.last_seq, s.last_active, None if s.result is None else
                              [s.result.status, s.result.value, s.result.message]]
                             for sid, s in self.sessions.items()]}

    @classmethod
    def restore(cls, snap: dict[str, Any]) -> KVStore:
        if snap.get("version") != 1:
            raise ValueError(f"unknown snapshot version {snap.get('version')!r}")
        store = cls(int(snap["session_ttl_ns"]), int(snap["max_sessions"]))
        store.applied_index, store.log_time = int(snap["applied_index"]), int(snap["log_time"])
        store.expired = int(snap["expired"])
        store.data = dict(snap["data"])
        for sid, last_seq, last_active, res in snap["sessions"]:
            result = None if res is None else Result(str(res[0]), res[1], str(res[2]))
            store.sessions[int(sid)] = _Session(int(last_seq), result, int(last_active))
        return store


class PendingReads:
    """Reads waiting for the applied index to reach their read index (ReadIndex): add, then release in order."""

    def __init__(self) -> None:
        self._waiting: list[tuple[int, int, Any]] = []  # (read index, arrival number, token), kept sorted
        self._n = 0

    def add(self, read_index: int, token: Any) -> None:
        self._n += 1
        self._waiting.append((read_index, self._n, token))
        self._waiting.sort(key=lambda t: (t[0], t[1]))

    def ready(self, applied_index: int) -> list[Any]:
        """Tokens of the reads that can be answered now (read index <= applied index), oldest first."""
        k = 0
        while k < len(self._waiting) and self._waiting[k][0] <= applied_index:
            k += 1
        out = [t[2] for t in self._waiting[:k]]
        del self._waiting[:k]
        return out

    def drop_all(self) -> list[Any]:
        """On losing leadership: every waiting read is answered not-leader (the client retries elsewhere)."""
        out = [t[2] for t in self._waiting]
        self._waiting.clear()
        return out

    def __len__(self) -> int:
        return len(self._waiting)
