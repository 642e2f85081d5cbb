import Foundation
import XCTest

@testable import HandoffAnalysis
@testable import HandoffModel
@testable import HandoffSupport

/// The SPECS model against formulas and against its own fit on data drawn from known parameters.
final class SpecsModelTests: XCTestCase {
    typealias Law = SpecsModel.ScoreLaw

    /// Independent candidates (σ_step = 0): P(best of n ≥ τ) = 1 − Φ((logit τ − μ)/σ)^n exactly.
    func testPassBestOfIndependentCandidates() {
        let law = Law(mean: 1, sdStep: 0, sdCandidate: 0.5)
        let z = (Law.logit(0.8) - 1) / 0.5
        for n in [1, 2, 4, 8] {
            XCTAssertEqual(law.passBest(width: n, threshold: 0.8), 1 - pow(GSL.normalCDF(z), Double(n)), accuracy: 1e-12)
        }
    }

    /// Width 1: the step level and the candidate's own noise add, P = 1 − Φ((z − μ)/√(σ_s² + σ_c²));
    /// wider beams gain less than independent tries would (candidates of a step are correlated).
    func testPassBestWithCorrelatedCandidates() {
        let law = Law(mean: 1.2, sdStep: 0.4, sdCandidate: 0.3)
        let z = Law.logit(0.8)
        XCTAssertEqual(law.passBest(width: 1, threshold: 0.8), 1 - GSL.normalCDF((z - 1.2) / 0.5), accuracy: 1e-7)
        let p1 = law.passBest(width: 1, threshold: 0.8)
        for n in [2, 4, 8] {
            let pn = law.passBest(width: n, threshold: 0.8)
            XCTAssertGreaterThan(pn, law.passBest(width: n / 2, threshold: 0.8))
            XCTAssertLessThan(pn, 1 - pow(1 - p1, Double(n)), "correlated candidates: less than n independent tries")
        }
        // Against 200,000 sampled steps of 4: within 4 standard errors (SE ≈ 0.0011).
        let rng = RandomStream(seed: 3)
        var pass = 0
        let steps = 200_000
        for _ in 0..<steps where law.sample(width: 4, rng: rng).max()! >= 0.8 { pass += 1 }
        XCTAssertEqual(Double(pass) / Double(steps), law.passBest(width: 4, threshold: 0.8), accuracy: 0.0045)
    }

    /// Recorded steps: one step of four candidates with one passing τ = 0.5 is accepted at width n with
    /// 1 − C(3, n)/C(4, n): 1/4, 1/2, 3/4, 1; drawing n of its candidates hits that rate (200,000
    /// draws, 4 standard errors). Wider than any recorded step, the fitted law answers.
    func testAcceptanceFromRecordedSteps() {
        var m = Self.model()
        m.draftSteps = [[0.9, 0.1, 0.1, 0.1]]
        for (n, p) in [(1, 0.25), (2, 0.5), (3, 0.75), (4, 1.0)] {
            XCTAssertEqual(m.acceptance(width: n, threshold: 0.5), p, accuracy: 1e-12)
        }
        let rng = RandomStream(seed: 5)
        var pass = 0
        for _ in 0..<200_000 where SpecsModel.draw(m.draftSteps, m.draftScores, width: 2, rng: rng).max()! >= 0.5 { pass += 1 }
        XCTAssertEqual(Double(pass) / 200_000, 0.5, accuracy: 0.0045)
        XCTAssertEqual(m.acceptance(width: 8, threshold: 0.5), m.draftScores.passBest(width: 8, threshold: 0.5))
    }

    /// The method of moments recovers μ, σ_step and σ_cand from 4,000 steps of 4 candidates
    /// (plus single-candidate steps, which inform the total variance only).
    func testScoreLawFitRecoversItsParameters() {
        let truth = Law(mean: 1.1, sdStep: 0.5, sdCandidate: 0.35)
        let rng = RandomStream(seed: 9)
        let phases = (0..<4000).map { _ in truth.sample(width: 4, rng: rng) } + (0..<2000).map { _ in truth.sample(width: 1, rng: rng) }
        let (law, separated) = SpecsFit.scoreLaw(phases)
        XCTAssertTrue(separated)
        XCTAssertEqual(law.mean, 1.1, accuracy: 0.03)
        XCTAssertEqual(law.sdStep, 0.5, accuracy: 0.03)
        XCTAssertEqual(law.sdCandidate, 0.35, accuracy: 0.01)
        let (single, sep1) = SpecsFit.scoreLaw((0..<100).map { _ in truth.sample(width: 1, rng: rng) })
        XCTAssertFalse(sep1, "no step with two candidates: the two variances cannot be told apart")
        XCTAssertEqual(single.sdStep, 0)
    }

    static func model(tau: Double = 0.5) -> SpecsModel {
        SpecsModel(
            draftScores: Law(mean: 0, sdStep: 0, sdCandidate: 1), targetScores: Law(mean: 0, sdStep: 0, sdCandidate: 1),
            draftStepTokens: 30, targetStepTokens: 40, lengthResponse: 1, accuracyExponent: 1, maxTokens: 256,
            fittedOn: "test")
    }

    /// Every draft accepted (τ = 0): the request is the small model's answer, n_s tokens in steps of
    /// 30 (the last one shorter); never (τ = 1, no switch-back): the large model's, in steps of 40.
    /// The cap binds when the answer is longer.
    func testTrajectoryLengths() {
        let m = Self.model()
        let rng = RandomStream(seed: 1)
        let all = m.trajectory(smallTokens: 100, largeTokens: 90, rule: .init(width: 2, threshold: 0, switchBack: 0), rng: rng)
        XCTAssertEqual(all.map(\.tokens), [30, 30, 30, 10])
        XCTAssertTrue(all.allSatisfy(\.accepted))
        let none = m.trajectory(smallTokens: 100, largeTokens: 90, rule: .init(width: 2, threshold: 1, switchBack: 1), rng: rng)
        XCTAssertEqual(none.map(\.tokens), [40, 40, 10])
        XCTAssertEqual(none.first?.draftScores.count, 2, "the first step drafts, then the target writes")
        XCTAssertTrue(none.dropFirst().allSatisfy { $0.draftScores.isEmpty && $0.byTarget })
        let capped = m.trajectory(smallTokens: 1000, largeTokens: 900, rule: .init(width: 1, threshold: 0, switchBack: 0), rng: rng)
        XCTAssertEqual(capped.reduce(0) { $0 + $1.tokens }, 256)
    }

    /// p = (1 − ω^γ)·h(s) + ω^γ·h(l); with h = (1, 0) it is the closed loop's s + (l − s)·ω^γ.
    func testAccuracyLaw() {
        var m = Self.model()
        m.accuracyExponent = 2
        XCTAssertEqual(m.pCorrect(small: false, large: true, targetShare: 0.5), 0.25)
        XCTAssertEqual(m.pCorrect(small: true, large: false, targetShare: 0.5), 0.75)
        XCTAssertEqual(m.pCorrect(small: true, large: true, targetShare: 0.3), 1)
        m.rightGivenRight = 0.9
        m.rightGivenWrong = 0.2
        XCTAssertEqual(m.pCorrect(small: false, large: true, targetShare: 0.5), 0.75 * 0.2 + 0.25 * 0.9, accuracy: 1e-12)
        XCTAssertEqual(m.pCorrect(small: false, large: false, targetShare: 0.5), 0.2, accuracy: 1e-12)
    }
}
