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

/// A binary min-heap of events keyed by time: the simulation's future event list.
///
/// `push` and `pop` are O(log n); `peek` is O(1). Events with equal times leave in an order fixed
/// by the sequence of operations, so a run is deterministic. Hand-written over a manually grown
/// buffer (sift with a hole, as in the C reference) because the generic `Heap` of
/// swift-collections pays for its min-max layout.
public struct EventQueue: ~Copyable {
    @usableFromInline var buffer: UnsafeMutablePointer<Event>
    @usableFromInline var capacity: Int
    @usableFromInline var storedCount: Int = 0
    public var count: Int { storedCount }

    public init(capacity: Int = 1024) {
        self.capacity = max(16, capacity)
        buffer = .allocate(capacity: self.capacity)
    }

    deinit { buffer.deallocate() }

    public var isEmpty: Bool { storedCount == 0 }

    /// The earliest event, if any. O(1).
    public var first: Event? { storedCount > 0 ? buffer[0] : nil }

    /// Adds an event. O(log n).
    @inlinable public mutating func push(_ e: Event) {
        if storedCount == capacity { grow() }
        var i = storedCount
        storedCount += 1
        while i > 0 {
            let p = (i - 1) >> 1
            if buffer[p].time <= e.time { break }
            buffer[i] = buffer[p]
            i = p
        }
        buffer[i] = e
    }

    /// Removes and returns the earliest event. O(log n).
    @inlinable public mutating func pop() -> Event? {
        if storedCount == 0 { return nil }
        storedCount -= 1
        let last = buffer[storedCount]
        if storedCount == 0 { return last }
        let top = buffer[0]
        let n = storedCount
        var i = 0
        while true {
            var c = 2 * i + 1
            if c >= n { break }
            if c + 1 < n && buffer[c + 1].time < buffer[c].time { c += 1 }
            if last.time <= buffer[c].time { break }
            buffer[i] = buffer[c]
            i = c
        }
        buffer[i] = last
        return top
    }

    @usableFromInline mutating func grow() {
        let bigger = UnsafeMutablePointer<Event>.allocate(capacity: capacity * 2)
        bigger.moveInitialize(from: buffer, count: storedCount)
        buffer.deallocate()
        buffer = bigger
        capacity *= 2
    }
}
