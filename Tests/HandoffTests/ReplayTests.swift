import Foundation
import XCTest

@testable import HandoffAnalysis
@testable import HandoffEngine
@testable import HandoffModel
@testable import HandoffSim
@testable import HandoffSupport

/// The pieces of `validate`'s replay that need no server: the client gap and old journals.
final class ReplayTests: XCTestCase {
    func request(_ k: Int, start: Double, e2el: Double, epoch: Int = 0) -> MeasuredRequest {
        MeasuredRequest(
            index: k, id: "r\(k)", epoch: epoch, startS: start, ttftS: 0.1, e2elS: e2el, promptTokens: 10,
            difficulty: [0, 0],
            largeTokens: 0, handoffs: 0, discardedTokens: 0, text: "", correct: nil)
    }

    /// One worker: ends at 1, 3.5, 6; next starts at 1.2, 3.6, 6.5: gaps 0.2, 0.1, 0.5, median 0.2.
    /// Two workers: starts 0, 0, 2.1, 2.6; sorted ends 2, 2.5, 4, 5: gaps 2.1 − 2 = 0.1 and
    /// 2.6 − 2.5 = 0.1. An overlap (the next start before the end it follows) counts as 0.
    func testClientGapIsTheMedianWorkerPause() {
        let one = [
            request(0, start: 0, e2el: 1), request(1, start: 1.2, e2el: 2.3), request(2, start: 3.6, e2el: 2.4),
            request(3, start: 6.5, e2el: 1)
        ]
        XCTAssertEqual(ValidationReport.clientGapS(one, [0: 0], 1), 0.2, accuracy: 1e-12)
        let two = [
            request(0, start: 0, e2el: 2), request(1, start: 0, e2el: 2.5), request(2, start: 2.1, e2el: 1.9),
            request(3, start: 2.6, e2el: 2.4)
        ]
        XCTAssertEqual(ValidationReport.clientGapS(two, [0: 0], 2), 0.1, accuracy: 1e-12)
        let overlap = [request(0, start: 0, e2el: 2), request(1, start: 1, e2el: 1), request(2, start: 1.5, e2el: 1)]
        XCTAssertEqual(ValidationReport.clientGapS(overlap, [0: 0], 1), 0)
        XCTAssertEqual(ValidationReport.clientGapS(Array(one.prefix(1)), [0: 0], 1), 0)
    }

    /// A journal written before a header field existed resumes when its header is listed as
    /// equivalent, keeps its own header line, and a third header is still refused.
    func testJournalAcceptsAnEquivalentOldHeader() throws {
        let path = tempDir() + "/samples.jsonl"
        let old = #"{"validate":{"policy":"x"}}"#
        let new = #"{"validate":{"policy":"x","lengths":"recorded"}}"#
        try (old + "\n" + #"{"index":0}"# + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let lines = try Journal.read(path: path, header: new, equivalent: [old]) { v -> Int? in
            if case .number(let x)? = v["index"] { return Int(x) }
            return nil
        }
        XCTAssertEqual(lines.count, 1)
        XCTAssertTrue(try String(contentsOfFile: path, encoding: .utf8).hasPrefix(old + "\n"))
        XCTAssertThrowsError(try Journal.read(path: path, header: new) { _ in 0 })
        XCTAssertThrowsError(
            try Journal.read(path: path, header: #"{"validate":{"policy":"y"}}"#, equivalent: [new]) { _ in 0 })
    }
}
