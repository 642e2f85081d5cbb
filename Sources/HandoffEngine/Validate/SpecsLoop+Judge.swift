import Foundation
import HandoffModel
import HandoffSim
import HandoffSupport

extension SpecsLoop {
    /// The judge's prompt tokens per call beyond the candidate, from the fit cells' scoring phases
    /// (draft and target alike): per phase, the o at which the large tier's latency law, prefilling
    /// Σ_c (ℓ_c + o) tokens in one iteration, takes the measured scoring time (bisection; 0 when the
    /// candidates alone take longer); the median over phases. The law is the scenario's calibration,
    /// so o also absorbs what the law misses about these calls (slot choice, the answer token).
    public static func judgePromptTokens(_ cells: [Cell], widths: Set<Int>, scenario sc: Scenario) -> Int {
        guard let k = sc.tierIndex("large") else { return 0 }
        let t = sc.tiers[k]
        let law = LatencyModel(spec: t.latency, model: t.model, gpu: t.gpu, tensorParallel: t.tensorParallel)
        func ms(_ tokens: Int) -> Double {
            var load = IterationLoad()
            law.addPrefill(&load, chunk: tokens, context: 200)
            return law.seconds(load) * 1000
        }
        var os: [Double] = []
        for c in cells {
            guard case .specs(let n, _, _) = c.spec.arm, widths.contains(n) else { continue }
            for p in c.samples.flatMap({ $0.steps.flatMap { [$0.draft, $0.target].compactMap { $0 } } }) where p.scoreMs > 0 {
                let own = p.candidates.reduce(0) { $0 + $1.tokens }
                var (lo, hi) = (0, 4000)
                guard ms(own) < p.scoreMs else {
                    os.append(0)
                    continue
                }
                while hi - lo > 1 {
                    let mid = (lo + hi) / 2
                    if ms(own + p.candidates.count * mid) < p.scoreMs { lo = mid } else { hi = mid }
                }
                os.append(Double(lo))
            }
        }
        return os.isEmpty ? 0 : Int(Statistics.median(os).rounded())
    }
}
