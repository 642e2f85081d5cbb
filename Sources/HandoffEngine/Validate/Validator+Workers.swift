import Foundation
import HandoffAnalysis
import HandoffModel
import HandoffSim
import HandoffSupport

/// Hands out request indices to the workers in order.
actor WorkQueue {
    var items: [Int]
    var i = 0
    init(_ items: [Int]) { self.items = items }
    func next() -> Int? {
        guard i < items.count else { return nil }
        defer { i += 1 }
        return items[i]
    }
}

/// Appends finished samples to the journal, one writer at a time, and keeps them.
actor Counter {
    var value: Int
    var fresh: [MeasuredRequest] = []
    init(_ v: Int) { value = v }
    func append(_ m: MeasuredRequest, to h: FileHandle) {
        h.write(Data((JSONWriter.write(m.json) + "\n").utf8))
        fresh.append(m)
        value += 1
    }
}

/// A value set from the delegate queue and read after the stream ends.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var v: Float?
    func set(_ x: Float) {
        lock.lock()
        v = x
        lock.unlock()
    }
    var value: Float? {
        lock.lock()
        defer { lock.unlock() }
        return v
    }
}
