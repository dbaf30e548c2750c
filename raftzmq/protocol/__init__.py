"""Pure protocol layer: messages, codec, quorum arithmetic, the core (election and log replication), its log and
progress tracking, and the network-fault model.
No I/O here."""
from .codec import MAX_FRAME_BYTES, Codec, ProtocolError
from .core import (
    CANDIDATE,
    FOLLOWER,
    LEADER,
    PRECANDIDATE,
    CoreConfig,
    ElectionCore,
    ElectionRules,
    Hints,
    Event,
    HardState,
    IllegalTransition,
    Output,
    Proposal,
)
from .ready import CONTRACT_VERSION, Ready, must_sync
from .surface import Core, CoreWrapper, DurableCore, HintedCore
from .messages import AppendEntries, Entry, AppendResponse, Message, RequestVote, TimeoutNow, VoteResponse
from .netmodel import NetModel, NetModelError
from .progress import Progress, Tracker
from .raftlog import LogSafetyError, RaftLog
from .quorum import has_majority, majority

__all__ = [
    "AppendEntries", "AppendResponse", "CANDIDATE", "CONTRACT_VERSION", "Codec", "Core", "CoreConfig", "CoreWrapper", "DurableCore", "ElectionCore", "ElectionRules", "Entry", "Event", "FOLLOWER",
    "HardState", "HintedCore", "Hints", "IllegalTransition", "LEADER", "MAX_FRAME_BYTES", "Message", "NetModel", "NetModelError", "Output", "PRECANDIDATE", "Progress", "Proposal", "RaftLog", "LogSafetyError", "Tracker",
    "ProtocolError", "Ready", "RequestVote", "TimeoutNow", "VoteResponse", "has_majority", "majority", "must_sync",
]
