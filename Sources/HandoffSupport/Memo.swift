import Foundation

/// A thread-safe memo table: the value under a key, made once. When two threads make the same
/// key at once, the first value stored wins and both get it, so callers share one instance (a
/// sweep's configurations share one loaded `Trace`, whose own memo then serves them all). With a
/// `capacity`, the oldest entries are dropped first. `make` runs outside the lock.
package final class Memo<Key: Hashable, Value>: @unchecked Sendable {
    private var values: [Key: Value] = [:]
    private var order: [Key] = []
    private let lock = NSLock()
    let capacity: Int

    package init(capacity: Int = .max) { self.capacity = capacity }

    /// The keys held, oldest first.
    package var keys: [Key] {
        lock.lock()
        defer { lock.unlock() }
        return order
    }

    package func get(_ key: Key, make: () throws -> Value) rethrows -> Value {
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

/// A key that names the type of the value memoised under it (`Trace.memoised`): a typed field, not
/// a hand-built string, and two key types never share an entry, so a lookup returns the key's
/// `Value` by construction.
public protocol MemoKey: Hashable, Sendable {
    associatedtype Value
}

/// Values of many types under typed keys: a `Memo` keyed by the key itself (its type is part of
/// its identity as an `AnyHashable`). The one cast inside cannot fail: an entry under a key of
/// type K was made by a `make` returning K.Value.
package final class TypedMemo: @unchecked Sendable {
    private let memo: Memo<AnyHashable, Any>

    package init(capacity: Int = .max) { memo = Memo(capacity: capacity) }

    package func get<K: MemoKey>(_ key: K, make: () throws -> K.Value) rethrows -> K.Value {
        try memo.get(AnyHashable(key), make: make) as! K.Value
    }

    /// The keys held, oldest first.
    package var keys: [AnyHashable] { memo.keys }
}
