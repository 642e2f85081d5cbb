import Foundation

/// A thread-safe memo table: the value under a key, made once. When two threads make the same
/// key at once, the first value stored wins and both get it, so callers share one instance (a
/// sweep's configurations share one loaded `Trace`, whose own memo then serves them all). With a
/// `capacity`, the oldest entries are dropped first. `make` runs outside the lock.
package final class Memo<Value>: @unchecked Sendable {
    private var values: [String: Value] = [:]
    private var order: [String] = []
    private let lock = NSLock()
    let capacity: Int

    package init(capacity: Int = .max) { self.capacity = capacity }

    package func get(_ key: String, make: () throws -> Value) rethrows -> Value {
        lock.lock()
        if let v = values[key] {
            lock.unlock()
            return v
        }
        lock.unlock()
        let v = try make()
        lock.lock()
        defer { lock.unlock() }
        if let first = values[key] { return first }
        values[key] = v
        order.append(key)
        while order.count > capacity { values[order.removeFirst()] = nil }
        return v
    }
}
