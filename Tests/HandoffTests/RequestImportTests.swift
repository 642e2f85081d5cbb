import Foundation
import XCTest

@testable import HandoffAnalysis
@testable import HandoffEngine
@testable import HandoffModel
@testable import HandoffSim
@testable import HandoffSupport

/// `handoff trace import-requests`: the three formats by hand, windows, difficulty profiles, and
/// the real public traces in ../shared/data/public-traces (read there, never copied).
final class RequestImportTests: XCTestCase {
    func write(_ text: String, _ name: String) throws -> String {
        let p = tempDir() + "/" + name
        try text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    func testAzureByHand() throws {
        let p = try write(
            "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 23:59:58.5000000,374,44\n2023-11-16 23:59:59.0,396,0\n2023-11-17 00:00:01.2500000,879,55\n",
            "a.csv")
        let r = try RequestImport.parse(path: p, format: .azure)
        XCTAssertEqual(r.skippedEmpty, 1, "no output tokens: nothing to simulate")
        XCTAssertEqual(r.rows.map(\.arrivalS), [0, 2.75], "across midnight")
        XCTAssertEqual(r.rows.map(\.promptTokens), [374, 879])
        XCTAssertEqual(r.rows.map(\.outputTokens), [44, 55])
        let bad = try write(
            "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,374,44\n2023-11-16 18:15:47,x,44\n",
            "b.csv")
        XCTAssertThrowsError(try RequestImport.parse(path: bad, format: .azure)) { e in
            let h = e as? HandoffError
            XCTAssertEqual(h?.line, 3)
            XCTAssertEqual(h?.field, "ContextTokens")
            XCTAssertEqual(h?.exitCode, 2)
        }
        let noCol = try write("TIME,ContextTokens,GeneratedTokens\n", "c.csv")
        XCTAssertThrowsError(try RequestImport.parse(path: noCol, format: .azure)) { e in
            XCTAssert("\(e)".contains("TIMESTAMP"), "\(e)")
        }
    }

    func testMooncakeAndBurstGPTByHand() throws {
        let m = try write(
            #"""
            {"timestamp": 1500, "input_length": 1000, "output_length": 20, "hash_ids": [0, 1]}
            {"timestamp": 1000, "input_length": 600, "output_length": 10, "hash_ids": [0]}
            """#, "m.jsonl")
        let r = try RequestImport.parse(path: m, format: .mooncake)
        XCTAssertEqual(r.rows.map(\.arrivalS), [0, 0.5], "milliseconds, sorted by arrival")
        XCTAssertEqual(r.rows.map(\.prefixBlocks), [[0], [0, 1]])
        let b = try write(
            "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n5,ChatGPT,472,18,490,Conversation log\n7.5,GPT-4,1087,0,1087,API log\n9,GPT-4,20,300,320,API log\n",
            "g.csv")
        let g = try RequestImport.parse(path: b, format: .burstgpt)
        XCTAssertEqual(g.rows.map(\.arrivalS), [0, 4])
        XCTAssertEqual(g.skippedEmpty, 1)
        XCTAssertEqual(g.rows.map(\.outputTokens), [18, 300])
    }

    func testWindowAndSpeed() {
        let rows = [0.0, 1, 2, 3, 4].enumerated().map {
            RequestImport.Row(line: $0.offset, arrivalS: $0.element, promptTokens: 1, outputTokens: 1)
        }
        XCTAssertEqual(RequestImport.window(rows, start: 1, duration: 2.5).map(\.arrivalS), [0, 1, 2])
        XCTAssertEqual(RequestImport.window(rows, start: 1, speed: 4).map(\.arrivalS), [0, 0.25, 0.5, 0.75])
        XCTAssertEqual(RequestImport.window(rows, limit: 2).count, 2)
        XCTAssert(RequestImport.window(rows, start: 10).isEmpty)
    }

    func testDifficultyProfiles() throws {
        let rows = [(0.0, 100, 8), (1.0, 50, 3), (2.0, 70, 40)].map {
            RequestImport.Row(line: 0, arrivalS: $0.0, promptTokens: $0.1, outputTokens: $0.2)
        }
        var spec = SyntheticTraceSpec()
        spec.seed = 4
        let a = RequestImport.trace(rows, idPrefix: "x", synthetic: spec)
        let b = RequestImport.trace(rows, idPrefix: "x", synthetic: spec)
        XCTAssertEqual((0..<3).map { a.outputTokens($0) }, [8, 3, 40])
        XCTAssertEqual(a.requests.map(\.arrivalS), [0, 1, 2])
        XCTAssertEqual(a.requests.map(\.promptTokens), [100, 50, 70])
        XCTAssertEqual(
            (0..<a.totalOutputTokens).map { a.difficulty[$0] }, (0..<b.totalOutputTokens).map { b.difficulty[$0] },
            "seeded")
        XCTAssert(a.requests.allSatisfy { $0.smallCorrect != nil && $0.largeCorrect != nil })
        // Sampled by length class: 8 and 3 tokens are classes 3 and 1; the recorded trace has a
        // 2-token request (class 1) and a 9-token one (class 3); 40 (class 5) takes the nearest, 3.
        var q0 = TraceRequest(id: "r0", promptTokens: 1, smallCorrect: true, largeCorrect: true)
        var q1 = TraceRequest(id: "r1", promptTokens: 1, smallCorrect: false, largeCorrect: true)
        q0.heldOut = false
        q1.heldOut = false
        let recorded = Trace(
            requests: [q0, q1], offsets: [0, 2, 11],
            difficulty: DifficultyColumn([0.9, 0.1, 0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]))
        let s = RequestImport.trace(rows, idPrefix: "x", synthetic: spec, recorded: recorded)
        func d(_ r: Int) -> [Float] { s.tokenRange(r).map { s.difficulty[$0] } }
        XCTAssertEqual(d(0), [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7], "cut to 8")
        XCTAssertEqual(d(1), [0.9, 0.1, 0.9], "cycled to 3")
        XCTAssertEqual(d(2).count, 40)
        XCTAssertEqual(Array(d(2).prefix(10)), [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0])
        XCTAssertEqual(s.requests.map(\.smallCorrect), [false, true, false])
    }

    /// The real files, as users download them (counts from Python's csv/json modules).
    func testPublicTraces() throws {
        let dir = try requirePublicTraces()
        let conv = try RequestImport.parse(path: dir + "/azure-llm-2023-conv.csv", format: .azure)
        XCTAssertEqual(conv.rows.count, 19_366)
        XCTAssertEqual(conv.rows.reduce(0) { $0 + $1.outputTokens }, 4_088_665)
        XCTAssertEqual(conv.rows.reduce(0) { $0 + $1.promptTokens }, 22_361_870)
        // 2023-11-16 18:15:46.6805900 to 19:14:08.4025270.
        XCTAssertEqual(conv.rows.last!.arrivalS, 3501.721937, accuracy: 1e-7)
        let code = try RequestImport.parse(path: dir + "/azure-llm-2023-code.csv", format: .azure)
        XCTAssertEqual(code.rows.count, 8_819)
        XCTAssertEqual(code.rows.reduce(0) { $0 + $1.outputTokens }, 245_896)
        let moon = try RequestImport.parse(path: dir + "/mooncake-conversation.jsonl", format: .mooncake)
        XCTAssertEqual(moon.rows.count, 12_031)
        XCTAssertEqual(moon.rows.reduce(0) { $0 + $1.outputTokens }, 4_122_048)
        XCTAssertEqual(moon.rows.reduce(0) { $0 + $1.promptTokens }, 144_793_823)
        XCTAssertEqual(moon.rows.last!.arrivalS, 3536.999, accuracy: 1e-9)
        XCTAssert(
            moon.rows.allSatisfy { ($0.prefixBlocks?.count ?? 0) * 512 >= $0.promptTokens },
            "a block id per 512 prompt tokens")
        // Replayed: an hour of Azure conversation traffic at 1.9 req/s through the default scenario.
        let rows = RequestImport.window(conv.rows, duration: 600)
        let trace = RequestImport.trace(rows, idPrefix: "azure", synthetic: SyntheticTraceSpec())
        var sc = try ScenarioLoader.load(
            path: nil, overrides: ["traffic={arrival: replay, requests: \(rows.count)}"])
        sc.traffic.requests = rows.count
        let out = try Simulation.run(sc, trace: trace).outcome
        XCTAssertEqual(out.requests.count, rows.count)
        XCTAssertEqual(out.requests.map(\.arrivalS), rows.map(\.arrivalS), "replayed at the recorded arrival times")
    }
}
