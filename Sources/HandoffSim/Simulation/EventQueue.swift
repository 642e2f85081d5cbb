import HandoffModel
import HandoffSupport

/// An event: a time and a 64-bit payload the owner of the queue decodes.
///
/// 16 bytes, the same layout as the C reference (`../shared/bench/mmc_reference.c`), so the
/// heap moves as little memory as the C heap does.
public struct Event: Sendable {
    public var time: Double
    public var payload: UInt64

    @inlinable public init(time: Double, payload: UInt64) {
        self.time = time
        self.payload = payload
    }

    /// Packs a kind (8 bits), a target (24 bits) and an argument (32 bits).
    @inlinable public init(time: Double, kind: UInt8, target: Int, argument: UInt32) {
        self.time = time
        self.payload =
            UInt64(kind) << 56 | (UInt64(UInt32(truncatingIfNeeded: target)) & 0xFF_FFFF) << 32 | UInt64(argument)
    }

    @inlinable public var kind: UInt8 { UInt8(truncatingIfNeeded: payload >> 56) }
    @inlinable public var target: Int { Int((payload >> 32) & 0xFF_FFFF) }
    @inlinable public var argument: UInt32 { UInt32(truncatingIfNeeded: payload) }
}

/// A binary min-heap of events keyed by (time, sequence): the simulation's future event list.
///
/// `push` and `pop` are O(log n); `peek` is O(1). Events with equal times leave in the order they
/// were pushed (first in, first out), as in SimPy, whose heap is keyed by (time, priority, id):
/// each push takes the next number of a per-queue counter, and the heap orders by time, then by
/// that number. A run is therefore deterministic, and a tie's order is the order in which the
/// simulator scheduled the events, not an accident of the heap's layout.
///
/// Hand-written over a manually grown buffer (sift with a hole, as in the C reference) because
/// the generic `Heap` of swift-collections pays for its min-max layout. An entry is 24 bytes:
/// the event's 16 and its sequence number.
public struct EventQueue: ~Copyable {
    @usableFromInline struct Entry {
        @usableFromInline var time: Double
        @usableFromInline var sequence: UInt64
        @usableFromInline var payload: UInt64

        @inlinable init(time: Double, sequence: UInt64, payload: UInt64) {
            self.time = time
            self.sequence = sequence
            self.payload = payload
        }

        /// Leaves the queue before `other`: earlier, or as early and pushed first.
        @inlinable @inline(__always) func precedes(_ other: Entry) -> Bool {
            time < other.time || (time == other.time && sequence < other.sequence)
        }
    }

    @usableFromInline var buffer: UnsafeMutablePointer<Entry>
    @usableFromInline var capacity: Int
    @usableFromInline var storedCount: Int = 0
    /// Events pushed so far: the next push's sequence number.
    @usableFromInline var pushed: UInt64 = 0
    public var count: Int { storedCount }

    public init(capacity: Int = 1024) {
        self.capacity = max(16, capacity)
        buffer = .allocate(capacity: self.capacity)
    }

    deinit { buffer.deallocate() }

    public var isEmpty: Bool { storedCount == 0 }

    /// The earliest event, if any. O(1).
    public var first: Event? { storedCount > 0 ? Event(time: buffer[0].time, payload: buffer[0].payload) : nil }

    /// Adds an event, after every event already queued at the same time. O(log n).
    @inlinable public mutating func push(_ e: Event) {
        if storedCount == capacity { grow() }
        let entry = Entry(time: e.time, sequence: pushed, payload: e.payload)
        pushed &+= 1
        var i = storedCount
        storedCount += 1
        // The new entry has the largest sequence number, so it rises only past later times.
        while i > 0 {
            let p = (i - 1) >> 1
            if buffer[p].time <= entry.time { break }
            buffer[i] = buffer[p]
            i = p
        }
        buffer[i] = entry
    }

    /// Removes and returns the earliest event (of equal times, the first pushed). O(log n).
    @inlinable public mutating func pop() -> Event? {
        if storedCount == 0 { return nil }
        storedCount -= 1
        let last = buffer[storedCount]
        let top = buffer[0]
        if storedCount > 0 {
            let n = storedCount
            var i = 0
            while true {
                var c = 2 * i + 1
                if c >= n { break }
                if c + 1 < n && buffer[c + 1].precedes(buffer[c]) { c += 1 }
                if last.precedes(buffer[c]) { break }
                buffer[i] = buffer[c]
                i = c
            }
            buffer[i] = last
        }
        return Event(time: top.time, payload: top.payload)
    }

    @usableFromInline mutating func grow() {
        let bigger = UnsafeMutablePointer<Entry>.allocate(capacity: capacity * 2)
        bigger.moveInitialize(from: buffer, count: storedCount)
        buffer.deallocate()
        buffer = bigger
        capacity *= 2
    }
}
