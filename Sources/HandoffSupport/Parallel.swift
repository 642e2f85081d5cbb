import Foundation

/// Handoff's one thread pool for CPU work (sweeps, what-ifs, reports, tuning): `body(0..<n)` on up
/// to `jobs` threads, results in index order. Workers take the next index as they free up (a slow
/// configuration does not hold back the others). After the first error no new index starts, and
/// it is rethrown once every worker has stopped.
package enum Parallel {
    package static func map<T>(_ n: Int, jobs: Int, _ body: @Sendable (Int) throws -> T) throws -> [T] {
        try map(n, jobs: jobs, body, completed: { _, _ in })
    }

    /// As `map`, calling `completed(index, value)` as each result arrives, one call at a time
    /// (under the pool's lock: a journal line, a progress count).
    package static func map<T>(
        _ n: Int, jobs: Int, _ body: @Sendable (Int) throws -> T, completed: (Int, T) -> Void
    ) throws -> [T] {
        let box = ParallelResults<T>(n)
        withoutActuallyEscaping(completed) { completed in
            let done = UncheckedSendable(completed)
            DispatchQueue.concurrentPerform(iterations: max(1, min(jobs, n))) { _ in
                while let k = box.take() {
                    do {
                        let v = try body(k)
                        box.lock.lock()
                        box.values[k] = v
                        done.value(k, v)
                        box.lock.unlock()
                    } catch {
                        box.fail(error)
                        return
                    }
                }
            }
        }
        if let e = box.error { throw e }
        return box.values.map { $0! }
    }
}

/// A value passed to the pool's threads, which call it one at a time under the pool's lock.
private struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// The state of one `Parallel.map`, guarded by `lock`.
private final class ParallelResults<T>: @unchecked Sendable {
    let lock = NSLock()
    var values: [T?]
    var next = 0
    var error: Error?
    init(_ n: Int) { values = Array(repeating: nil, count: n) }

    /// The next index to run, or nil when every index has started or a worker failed.
    func take() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard error == nil, next < values.count else { return nil }
        next += 1
        return next - 1
    }

    func fail(_ e: Error) {
        lock.lock()
        if error == nil { error = e }
        lock.unlock()
    }
}
