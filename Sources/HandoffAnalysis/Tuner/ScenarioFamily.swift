import Foundation
import HandoffModel
import HandoffSim
import HandoffSupport

/// One scenario source plus overrides, from which the tuner's commands build variants
/// (`path=value` overrides on top) and simulate them. Variants that leave `trace.*` alone share
/// one loaded trace; evaluations are memoised by their overrides, so a search that revisits a
/// point costs nothing. Thread-safe.
public final class ScenarioFamily: @unchecked Sendable {
    public let origin: String
    /// The scenario file, or nil for the embedded default.
    public let path: String?
    public let baseOverrides: [String]
    let yaml: String
    let baseDir: String
    private let traces: Memo<String, Trace>
    private let summaries = Memo<String, JSONValue>()
    private let lock = NSLock()
    /// Simulations run (memo hits excluded).
    public private(set) var simulations = 0

    public init(path: String?, overrides: [String]) throws {
        (yaml, origin, baseDir) = try ScenarioLoader.source(path: path)
        self.path = path
        baseOverrides = overrides
        traces = Memo()
    }

    private init(_ parent: ScenarioFamily, extra: [String]) {
        (yaml, origin, baseDir, path) = (parent.yaml, parent.origin, parent.baseDir, parent.path)
        baseOverrides = parent.baseOverrides + extra
        traces = parent.traces
    }

    /// The same source with `extra` overrides after this family's, sharing its loaded traces
    /// (a baseline: `policy={name: single, tier: large}`).
    public func derived(_ extra: [String]) -> ScenarioFamily { ScenarioFamily(self, extra: extra) }

    /// The scenario with `extra` overrides applied after the base ones.
    public func scenario(_ extra: [String] = [], seed: ((Scenario) -> UInt64)? = nil) throws -> Scenario {
        let root = try ConfigNode.parse(yaml: yaml, origin: origin)
        for o in baseOverrides + extra { try root.apply(override: o) }
        var s = try ScenarioLoader.build(root, baseDir: baseDir)
        if let seed { s.seed = seed(s) }
        return s
    }

    /// Simulates the variant (with `seed`, a seed derived from the built scenario) and returns its
    /// full result. Variants that leave `trace.*` alone share one loaded trace.
    public func run(_ extra: [String] = [], seed: ((Scenario) -> UInt64)? = nil) throws -> SimulationResult {
        let s = try scenario(extra, seed: seed)
        let trace = try self.trace(s, extra)
        lock.lock()
        simulations += 1
        lock.unlock()
        return try Simulation.run(s, trace: trace)
    }

    /// Loads (and keeps) the trace of the variant, so a bad trace fails before any output is written.
    public func loadTrace(_ extra: [String] = []) throws { _ = try trace(try scenario(extra), extra) }

    /// The trace of variant `s` (built with `extra`), shared by every variant that leaves `trace.*` alone.
    func trace(_ s: Scenario, _ extra: [String]) throws -> Trace {
        let key = (baseOverrides + extra).filter { $0.hasPrefix("trace.") }.joined(separator: "|")
        return try traces.get(key) { try Simulation.loadTrace(s) }
    }

    /// The summary of the variant (memoised).
    public func summary(_ extra: [String] = []) throws -> JSONValue {
        try summaries.get(extra.joined(separator: "\u{1}")) { try run(extra).summary }
    }

    /// Checks that the scenario accepts every value of a field; errors name `field`. A value
    /// whose models do not fit in GPU memory (with the scenario's other fields) is accepted: the
    /// search skips the combinations that do not fit.
    public func check(_ path: String, values: [String], field: String) throws {
        for v in values {
            do { _ = try scenario(["\(path)=\(v)"]) } catch let e as HandoffError where e.doesNotFit {
            } catch var e as HandoffError where e.file?.hasPrefix("--set \(path)=") == true {
                // Named as the user gave it (`--vary path=…`), not as the override built from it.
                e.file = field
                throw e
            } catch let e as HandoffError where e.field == nil {
                throw e.with(field: field)
            }
        }
    }
}
