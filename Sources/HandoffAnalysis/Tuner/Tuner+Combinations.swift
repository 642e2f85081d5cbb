import Foundation
import HandoffModel
import HandoffSim
import HandoffSupport

/// The discrete combinations of a search: which fit in GPU memory, the order they run in, and
/// which a cost bound proves cannot win (branch and bound).
///
/// When the objective is a GPU bill (`cost_usd.per_1k_requests` or `cost_usd.total`, minimised)
/// and the arrivals do not depend on the deployment (open-loop or replayed traffic, no `traffic.`
/// or `trace.` field varied: common random numbers give every variant the same arrivals), a
/// combination's objective is at least its $/hour × the arrival span (a run lasts at least until
/// its last arrival) ÷ the requests a feasible run serves (all of them). Combinations run
/// cheapest first, in batches of `batch`; after each batch, those whose bound exceeds the best
/// feasible objective so far by more than the tie are skipped: they could be neither the answer
/// nor a tie with it, so the answer is the one the exhaustive search gives. The batches do not
/// depend on `jobs`, so neither does the output.
extension Tuner {
    static let batch = 4

    /// One combination before its search: its index, $/hour, and why it cannot run (it does not fit).
    struct Combination {
        var index: Int
        var usdPerHour: Double
        var doesNotFit: String?
    }

    func searchCombinations(_ grid: Grid, _ cont: TuneAxis?) throws -> [CombinationResult] {
        let combos = try (0..<grid.count).map { k in try combination(k, grid, cont) }
        var results = [CombinationResult](repeating: CombinationResult(), count: grid.count)
        for c in combos where c.doesNotFit != nil { results[c.index].skipped = c.doesNotFit }
        let runnable = combos.filter { $0.doesNotFit == nil }
        guard let factor = try costBoundFactor() else {
            let r = try Parallel.map(runnable.count, jobs: spec.jobs) { i in
                try self.searchCombination(grid.configuration(runnable[i].index), cont)
            }
            for (c, x) in zip(runnable, r) { results[c.index] = x }
            return results
        }
        let order = runnable.sorted { ($0.usdPerHour, $0.index) < ($1.usdPerHour, $1.index) }
        var incumbent = Double.infinity
        var next = 0
        while next < order.count {
            let live = order[next...].filter { $0.usdPerHour * factor <= incumbent * (1 + spec.tie) }
            guard !live.isEmpty else { break }
            let wave = Array(live.prefix(Self.batch))
            next = order.firstIndex { $0.index == wave.last!.index }! + 1
            let r = try Parallel.map(wave.count, jobs: spec.jobs) { i in
                try self.searchCombination(grid.configuration(wave[i].index), cont)
            }
            for (c, x) in zip(wave, r) {
                results[c.index] = x
                for p in x.points where p.feasible { incumbent = min(incumbent, loss(p)) }
            }
        }
        for c in order where results[c.index].points.isEmpty && results[c.index].skipped == nil {
            results[c.index].pruned = true
        }
        return results
    }

    /// Builds combination `k` (at the continuous interval's low end) to price it and to see
    /// whether its models fit; a combination that does not fit is skipped, not an error.
    func combination(_ k: Int, _ grid: Grid, _ cont: TuneAxis?) throws -> Combination {
        var o = grid.configuration(k).map { "\($0.path)=\($0.value)" }
        if case .continuous(let p, let lo, _)? = cont { o.append("\(p)=\(JSONWriter.number(lo))") }
        do {
            return Combination(index: k, usdPerHour: try family.scenario(o).billedGPUs.usdPerHour, doesNotFit: nil)
        } catch let e as HandoffError where e.doesNotFit {
            return Combination(index: k, usdPerHour: .infinity, doesNotFit: e.message)
        }
    }

    /// Objective ≥ $/hour × this, for every feasible point; nil when no such bound holds.
    func costBoundFactor() throws -> Double? {
        guard !spec.exhaustive, let o = spec.objective, !o.maximize,
            o.key == "cost_usd.per_1k_requests" || o.key == "cost_usd.total",
            !spec.axes.contains(where: { ["traffic", "trace", "simulation", "seed"].contains(String($0.path.split(separator: ".")[0])) })
        else { return nil }
        guard try family.scenario().traffic.arrival != .closed_loop else { return nil }
        let base = try family.summary()
        guard let rps = base.number(at: "stability.offered_rps"), rps > 0,
            base.number(at: "requests_rejected") == 0,
            let served = base.number(at: "requests"), let failed = base.number(at: "requests_failed"), served + failed > 1
        else { return nil }
        let arrivals = served + failed
        let span = (arrivals - 1) / rps
        return o.key == "cost_usd.total" ? span / 3600 : span / 3600 / arrivals * 1000
    }

    /// What the note says about combinations not searched.
    func combinationNotes(_ r: [CombinationResult], _ grid: Grid) -> [String] {
        var notes: [String] = []
        let misfit = r.indices.filter { r[$0].skipped != nil }
        if let first = misfit.first {
            let cfg = grid.configuration(first).map { "\($0.path)=\($0.value)" }.joined(separator: " ")
            notes.append(
                "\(misfit.count) of \(r.count) combinations do not fit in GPU memory and were skipped (e.g. \(cfg): \(r[first].skipped!))"
            )
        }
        let pruned = r.filter(\.pruned).count
        if pruned > 0 {
            notes.append(
                "\(pruned) of \(r.count) combinations were not simulated: their $/hour × the arrival span already costs more than the best feasible answer plus the tie (--exhaustive simulates them)"
            )
        }
        return notes
    }
}
