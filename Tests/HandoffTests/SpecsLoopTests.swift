import Foundation
import XCTest

@testable import HandoffEngine
@testable import HandoffSupport

/// The pieces of `handoff specs-loop` that need no server: the judge's score, the step delimiter,
/// the journal's round trip, the measured figures and the accuracy interval.
final class SpecsLoopTests: XCTestCase {
    func testJudgeScoreIsTheYesShareOfYesAndNo() {
        let top = [
            TopToken(token: "Yes", logprob: log(0.6)), TopToken(token: " No", logprob: log(0.2)),
            TopToken(token: "The", logprob: log(0.1)), TopToken(token: "yes", logprob: log(0.05))
        ]
        XCTAssertEqual(StepJudge.yesShare(top), 0.65 / 0.85, accuracy: 1e-12)
        XCTAssertEqual(StepJudge.yesShare([TopToken(token: "Maybe", logprob: -0.1)]), 0.5)
        XCTAssertEqual(StepJudge.yesShare([TopToken(token: "No", logprob: -0.1)]), 0)
    }

    func testAStepEndsAtTheFirstBlankLineAfterText() {
        let s = "\n\nFirst, add.\n\nThen"
        XCTAssertEqual(SpecsRunner.stepEnd(s).map { String(s[..<$0]) }, "\n\nFirst, add.\n\n")
        XCTAssertNil(SpecsRunner.stepEnd("no blank line\nhere"))
        XCTAssertNil(SpecsRunner.stepEnd("  \n\n"), "a blank line before any text does not end a step")
        let seen = TextSoFar()
        XCTAssertFalse(seen.add("x = 1"))
        XCTAssertFalse(seen.add(".\n"))
        XCTAssertTrue(seen.add("\n"))
    }

    static func phase(_ tier: String, _ scores: [Double?], tokens: Int = 10) -> SpecsPhase {
        SpecsPhase(
            tier: tier,
            candidates: scores.enumerated().map {
                SpecsCandidate(text: "\(tier) \($0.offset)\n\n", tokens: tokens + $0.offset, score: $0.element, end: "delimiter")
            }, generateMs: 100, scoreMs: 50)
    }

    /// Two requests at width 2, threshold 0.8: A accepts, rejects (the target's best 0.9 switches back),
    /// accepts; B rejects (the target's best 0.5 stays), then writes a target step.
    static func cell() -> SpecsLoop.Cell {
        let a = SpecsSample(
            index: 0, id: "a",
            steps: [
                SpecsStepRecord(draft: phase("small", [0.9, 0.7]), target: nil),
                SpecsStepRecord(draft: phase("small", [0.1, 0.2]), target: phase("large", [0.9, 0.3])),
                SpecsStepRecord(draft: phase("small", [0.5, 0.85]), target: nil)
            ], correct: true, startS: 0, ttftS: 1, e2elS: 4)
        let b = SpecsSample(
            index: 1, id: "b",
            steps: [
                SpecsStepRecord(draft: phase("small", [0.3, 0.2]), target: phase("large", [0.5, 0.4])),
                SpecsStepRecord(draft: nil, target: phase("large", [0.6, 0.7]))
            ], correct: false, startS: 4, ttftS: 2, e2elS: 6)
        return SpecsLoop.Cell(
            spec: .init(arm: .specs(width: 2, threshold: 0.8, switchBack: 0.8), concurrency: 1), samples: [a, b],
            speed: [:])
    }

    func testMeasuredFiguresCountTheJournal() {
        let c = Self.cell()
        let m = Dictionary(uniqueKeysWithValues: c.measured)
        XCTAssertEqual(m["accuracy"], 0.5)
        XCTAssertEqual(m["acceptance_rate"], 2.0 / 4, "4 draft phases, 2 passed")
        XCTAssertEqual(m["candidate_pass_rate"], 2.0 / 8, "0.9 and 0.85 of 8 draft candidates are ≥ 0.8")
        XCTAssertEqual(m["target_step_share"], 3.0 / 5)
        XCTAssertEqual(m["steps_per_request"], 2.5)
        // Emitted: A 10 (draft best 0) + 10 (target best 0) + 11 (draft best 1); B 10 + 11.
        XCTAssertEqual(c.samples.map(\.outputTokens), [31, 21])
        XCTAssertEqual(m["output_tokens_per_request"], 26)
        XCTAssertEqual(m["latency_ms.e2el.p50"], 5000)
        XCTAssertEqual(m["throughput_rps"], 2.0 / 10, "2 requests from t = 0 to t = 4 + 6 s")
        XCTAssertEqual(c.samples[0].text, "small 0\n\nlarge 0\n\nsmall 1\n\n")
    }

    func testJournalLinesRoundTrip() throws {
        for s in Self.cell().samples {
            let line = JSONWriter.write(s.json)
            XCTAssertEqual(SpecsSample(try JSONParser.parse(line)), s)
        }
        XCTAssertNil(SpecsSample(try JSONParser.parse(#"{"index":0,"id":"a","steps":[]}"#)), "no steps: not a sample")
    }

    /// The exact binomial interval: the closed forms at k = 0 and k = n, and lo(k) = 1 − hi(n − k).
    func testClopperPearsonInterval() {
        let n = 24
        XCTAssertEqual(Statistics.clopperPearson(0, n).0, 0)
        XCTAssertEqual(Statistics.clopperPearson(0, n).1, 1 - pow(0.025, 1.0 / 24), accuracy: 1e-9)
        XCTAssertEqual(Statistics.clopperPearson(n, n).0, pow(0.025, 1.0 / 24), accuracy: 1e-9)
        for k in 1..<n {
            XCTAssertEqual(Statistics.clopperPearson(k, n).0, 1 - Statistics.clopperPearson(n - k, n).1, accuracy: 1e-9)
        }
        // 12 of 24: the p at which P(X ≥ 12 | p) = 0.025, by bisection on the binomial sum: 0.29124178.
        XCTAssertEqual(Statistics.clopperPearson(12, 24).0, 0.29124178, accuracy: 1e-7)
    }
}
