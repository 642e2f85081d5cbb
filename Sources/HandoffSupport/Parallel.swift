import Foundation

/// `body(0..<n)` on up to `jobs` threads, results in index order; the first error is rethrown
/// after every worker stops. Work is strided (worker w takes w, w + jobs, …).
package enum Parallel {
    package static func map<T>(_ n: Int, jobs: Int, _ body: @Sendable (Int) throws -> T) throws -> [T] {
        let box = ParallelResults<T>(n)
        let workers = max(1, min(jobs, n))
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            var k = w
            while k < n {
                do {
                    let v = try body(k)
                    box.lock.lock()
                    box.values[k] = v
                    box.lock.unlock()
                } catch {
                    box.lock.lock()
                    if box.error == nil { box.error = error }
                    box.lock.unlock()
                    return
                }
                k += workers
            }
        }
        if let e = box.error { throw e }
        return box.values.map { $0! }
    }
}

/// The results of `Parallel.map`, guarded by `lock`.
private final class ParallelResults<T>: @unchecked Sendable {
    let lock = NSLock()
    var values: [T?]
    var error: Error?
    init(_ n: Int) { values = Array(repeating: nil, count: n) }
}
