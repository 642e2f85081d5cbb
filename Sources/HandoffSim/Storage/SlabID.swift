/// An index into one of the simulator's slabs, typed by what it counts: a request's index cannot
/// be passed where a sequence's or a replica's is expected, nor a trace position where a request
/// instance's is. Free at run time: one `Int32`, compared and hashed as one.
///
/// `-1` (`.none`) stands for "no such thing" where the simulator stores one (a sequence not on a
/// replica, the end of a list).
protocol SlabID: Strideable, Hashable, CustomStringConvertible where Stride == Int {
    var raw: Int32 { get }
    init(raw: Int32)
}

extension SlabID {
    @inline(__always) init(_ index: Int) { self.init(raw: Int32(truncatingIfNeeded: index)) }
    /// The position in the slab. Zero-extended: on x86-64 a 32-bit load already clears the upper
    /// half, where sign extension costs an instruction per access (`.none` is never an index).
    @inline(__always) var index: Int { Int(UInt32(bitPattern: raw)) }
    static var none: Self { Self(raw: -1) }
    /// Not `.none`.
    @inline(__always) var exists: Bool { raw >= 0 }
    @inline(__always) func distance(to other: Self) -> Int { Int(other.raw) - Int(raw) }
    @inline(__always) func advanced(by n: Int) -> Self { Self(raw: raw &+ Int32(truncatingIfNeeded: n)) }
    @inline(__always) static func < (a: Self, b: Self) -> Bool { a.raw < b.raw }
    var description: String { String(raw) }
    /// As an event's argument, and back.
    @inline(__always) var argument: UInt32 { UInt32(bitPattern: raw) }
    @inline(__always) init(argument: UInt32) { self.init(raw: Int32(bitPattern: argument)) }
}

/// A request instance of the run (a trace request served twice is two).
struct RequestID: SlabID {
    let raw: Int32
    init(raw: Int32) { self.raw = raw }
}

/// A GPU replica of the run, numbered across tiers (a tier's are `tierReplicas(t)`).
struct ReplicaID: SlabID {
    let raw: Int32
    init(raw: Int32) { self.raw = raw }
}

/// One request's presence on one tier (its `SequenceState`): a request's sequences are
/// `seqBase ..< seqBase + roles`, one per role.
struct SequenceID: SlabID {
    let raw: Int32
    init(raw: Int32) { self.raw = raw }
}

/// A tier of the scenario: its index in `scenario.tiers` (and in the simulator's per-tier
/// `IDArray`s). A tier is not a role: several roles may share one.
struct TierID: SlabID {
    let raw: Int32
    init(raw: Int32) { self.raw = raw }
}

/// A role of the policy: its index in `policy.roles` and a `Segment`'s `role`. Role 0 (`entry`) is
/// where requests enter and where their output is returned from.
struct RoleID: SlabID {
    let raw: Int32
    init(raw: Int32) { self.raw = raw }
    static let entry = RoleID(raw: 0)
    /// Not the entry role: work here is offloaded, and its output crosses the network back.
    @inline(__always) var isOffload: Bool { raw != 0 }
}
