"""The protocol package's public surface is deliberate: changing it should be a visible decision."""
import raftzmq.protocol as protocol

EXPECTED = {
    "AppendEntries", "AppendResponse", "CANDIDATE", "CONTRACT_VERSION", "Codec", "Core", "CoreConfig", "CoreWrapper", "DurableCore", "ElectionCore", "ElectionRules", "Entry", "Event", "FOLLOWER",
    "HardState", "HintedCore", "Hints", "IllegalTransition", "LEADER", "MAX_FRAME_BYTES", "Message", "NetModel", "NetModelError", "Output",
    "PRECANDIDATE", "Progress", "Proposal", "RaftLog", "LogSafetyError", "Tracker",
    "ProtocolError", "Ready", "RequestVote", "TimeoutNow", "VoteResponse", "has_majority", "majority", "must_sync",
}


def test_public_exports_are_exactly_the_curated_set():
    assert set(protocol.__all__) == EXPECTED
    for name in EXPECTED:
        assert getattr(protocol, name) is not None
