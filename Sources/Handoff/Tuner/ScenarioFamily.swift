import Foundation

/// One scenario source plus overrides, from which the tuner's commands build variants
/// (`path=value` overrides on top) and simulate them. Variants that leave `trace.*` alone share
/// one loaded trace; evaluations are memoised by their overrides, so a search that revisits a
/// point costs nothing. Thread-safe.
public final class ScenarioFamily: @unchecked Sendable {
    public let origin: String
    public let baseOverrides: [String]
    let yaml: String
    let baseDir: String
    let traces = TraceCache()
    private var memo: [String: JSONValue] = [:]
    private let lock = NSLock()
    /// Simulations run (memo hits excluded).
    public private(set) var simulations = 0

    public init(path: String?, overrides: [String]) throws {
        (yaml, origin, baseDir) = try ScenarioLoader.source(path: path)
        baseOverrides = overrides
    }

    /// The scenario with `extra` overrides applied after the base ones.
    public func scenario(_ extra: [String] = [], seed: ((Scenario) -> UInt64)? = nil) throws -> Scenario {
        let root = try ConfigNode.parse(yaml: yaml, origin: origin)
        for o in baseOverrides + extra { try root.apply(override: o) }
        var s = try ScenarioLoader.build(root, baseDir: baseDir)
        if let seed { s.seed = seed(s) }
        return s
    }

    /// Simulates the variant and returns its full result.
    public func run(_ extra: [String] = []) throws -> SimulationResult {
        let s = try scenario(extra)
        let key = (baseOverrides + extra).filter { $0.hasPrefix("trace.") }.joined(separator: "|")
        let trace = try traces.get(key) { try Simulation.loadTrace(s) }
        lock.lock(); simulations += 1; lock.unlock()
        return try Simulation.run(s, trace: trace)
    }

    /// The summary of the variant (memoised).
    public func summary(_ extra: [String] = []) throws -> JSONValue {
        let key = extra.joined(separator: "\u{1}")
        lock.lock()
        if let v = memo[key] { lock.unlock(); return v }
        lock.unlock()
        let v = try run(extra).summary
        lock.lock(); memo[key] = v; lock.unlock()
        return v
    }
}
