"""Checking the audit trail's hash chains: which event was removed, changed or reordered.

Each process writes one chain (`compliance.observe.chain`). Reading the files in
order, per chain:

* the next event links to the last one (its `prev` is that event's hash): fine;
* it links to another hash: the last event was changed after it was written
  (or this one's link was);
* its sequence number skips some: those were removed, unless they turn up
  later, out of place: then they were reordered;
* it comes back to a number already read: reordered, or repeated.

Memory is a few values per chain, whatever the size of the files.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from compliance.cli.audit_read import AuditLine
from compliance.observe.chain import event_hash, verify_signature

__all__ = ["Finding", "Verification", "verify"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: where, in file order, and what."""

    order: int
    where: str
    message: str


@dataclass(slots=True)
class _State:
    seq: int
    digest: str
    where: str
    first: int
    #: Sequence numbers skipped so far, as ranges: (first, last, after where, before where, order).
    gaps: list[tuple[int, int, str, str, int]] = field(default_factory=list)
    checkpoint: int = 0


@dataclass(slots=True)
class Verification:
    events: int = 0
    unchained: int = 0
    checkpoints: int = 0
    good_signatures: int = 0
    #: Events the writer could not queue (its queue was full), as its `dropped` events say: (count, where).
    dropped: list[tuple[int, str]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    chains: dict[str, _State] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.findings


def _seq(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def verify(events: Iterable[AuditLine], public_key: bytes | None = None) -> Verification:
    result = Verification()
    order = 0
    for item in events:
        order += 1
        record = item.record
        result.events += 1
        chain, seq, prev = record.get("chain"), _seq(record.get("seq")), record.get("prev")
        if not isinstance(chain, str) or seq is None or not isinstance(prev, str):
            result.unchained += 1
            continue
        digest = event_hash(record)
        if record.get("event") == "dropped" and _seq(record.get("count")) is not None:
            result.dropped.append((record["count"], item.where))
        if record.get("event") == "checkpoint":
            result.checkpoints += 1
            if public_key is not None:
                good = verify_signature(public_key, record)
                if good:
                    result.good_signatures += 1
                else:
                    result.findings.append(
                        Finding(
                            order,
                            item.where,
                            f"the checkpoint at event {seq} of chain {chain} does not carry a valid signature of "
                            "the given public key: it was changed, or signed with another key.",
                        )
                    )
        state = result.chains.get(chain)
        if state is None:
            result.chains[chain] = _State(seq, digest, item.where, seq)
            if record.get("event") == "checkpoint":
                result.chains[chain].checkpoint = seq
            continue
        if record.get("event") == "checkpoint":
            state.checkpoint = max(state.checkpoint, seq)
        if seq == state.seq + 1:
            if prev != state.digest:
                result.findings.append(
                    Finding(
                        order - 1,
                        state.where,
                        f"event {state.seq} of chain {chain} was changed after it was written: the next event "
                        f"({item.where}) holds another hash of it.",
                    )
                )
            state.seq, state.digest, state.where = seq, digest, item.where
        elif seq > state.seq + 1:
            state.gaps.append((state.seq + 1, seq - 1, state.where, item.where, order))
            state.seq, state.digest, state.where = seq, digest, item.where
        else:
            gap = next((g for g in state.gaps if g[0] <= seq <= g[1]), None)
            if gap is not None:
                state.gaps.remove(gap)
                if gap[0] < seq:
                    state.gaps.append((gap[0], seq - 1, gap[2], gap[3], gap[4]))
                if seq < gap[1]:
                    state.gaps.append((seq + 1, gap[1], gap[2], gap[3], gap[4]))
                result.findings.append(
                    Finding(
                        order,
                        item.where,
                        f"event {seq} of chain {chain} is out of order: it belongs before the event at {gap[3]}; "
                        "the events were reordered.",
                    )
                )
            else:
                result.findings.append(
                    Finding(
                        order,
                        item.where,
                        f"event {seq} of chain {chain} comes again after event {state.seq} ({state.where}): "
                        "it was repeated or reordered.",
                    )
                )
    for chain, state in result.chains.items():
        for first, last, after, before, at in state.gaps:
            which = f"event {first}" if first == last else f"events {first} to {last}"
            result.findings.append(
                Finding(at, before, f"{which} of chain {chain} were removed: they belong between {after} and {before}.")
            )
    result.findings.sort(key=lambda f: f.order)
    return result
