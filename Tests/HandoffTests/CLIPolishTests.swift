import Foundation
import XCTest

@testable import HandoffAnalysis
@testable import HandoffEngine
@testable import HandoffModel
@testable import HandoffSim
@testable import HandoffSupport

/// The command line's small promises: a version, whatif's readable table, each default stated once,
/// --format offering only what a command prints, and a negative --rate called negative.
final class CLIPolishTests: XCTestCase {
    func testVersion() throws {
        let r = try runCLI(["--version"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertNotNil(r.stdout.range(of: #"^\d+\.\d+\.\d+\n$"#, options: .regularExpression), r.stdout)
    }

    /// Every option and argument entry of every --help: its command, its name and its whole text.
    static func helpEntries() throws -> [(command: String, option: String, text: String)] {
        var entries: [(command: String, option: String, text: String)] = []
        for (path, help) in try DocCommands.helpTexts() {
            let command = (["handoff"] + path).joined(separator: " ")
            var inSection = false
            for line in help.components(separatedBy: "\n") {
                if line == "OPTIONS:" || line == "ARGUMENTS:" {
                    inSection = true
                } else if line.isEmpty || !line.hasPrefix(" ") {
                    inSection = false
                } else if inSection, line.hasPrefix("  -") || line.hasPrefix("  <") {
                    let name = line.dropFirst(2).split(separator: " ").first.map(String.init) ?? ""
                    entries.append((command, name.trimmingCharacters(in: CharacterSet(charactersIn: ",")), line))
                } else if inSection, line.hasPrefix("    "), !entries.isEmpty {
                    entries[entries.count - 1].text += " " + line.trimmingCharacters(in: .whitespaces)
                }
            }
        }
        return entries
    }

    func testEveryDefaultIsStatedOnce() throws {
        let entries = try Self.helpEntries()
        XCTAssertGreaterThan(entries.count, 100)
        for e in entries {
            let n = e.text.components(separatedBy: "default:").count - 1
            XCTAssertLessThanOrEqual(n, 1, "\(e.command) \(e.option) states its default \(n) times: \(e.text)")
        }
        let jobs = entries.filter { $0.option == "--jobs" }
        XCTAssertEqual(Set(jobs.map(\.command)), ["handoff sweep", "handoff whatif", "handoff report", "handoff tune"])
        for e in jobs {
            XCTAssertEqual(e.text.components(separatedBy: "default").count - 1, 1, "\(e.command): \(e.text)")
            XCTAssertTrue(e.text.contains("all cores"), "\(e.command): \(e.text)")
        }
    }

    func testFormatHelpListsOnlyTheFormatsACommandPrints() throws {
        let formats = ["table", "json", "csv", "vllm-bench"]
        let entries = try Self.helpEntries().filter { $0.option == "--format" }
        XCTAssertGreaterThanOrEqual(entries.count, 7)
        for e in entries {
            guard let v = e.text.range(of: "(values: "), let end = e.text[v.upperBound...].firstIndex(of: ";") else {
                continue  // import-requests: its --format names the input's format, a free string checked by validate()
            }
            let values = e.text[v.upperBound..<end].components(separatedBy: ", ")
            let prose = e.text[..<v.lowerBound]
            for f in formats where prose.range(of: "\\b\(f)\\b", options: .regularExpression) != nil {
                XCTAssertTrue(
                    values.contains(f), "\(e.command) --format's help names \(f), not in \(values): \(e.text)")
            }
            if e.command.hasSuffix(" tune") || e.command.hasSuffix(" capacity") || e.command.hasSuffix(" inspect") {
                XCTAssertEqual(values, ["table", "json"], e.command)
            }
        }
        for args in [
            ["tune", "--vary", "policy.offload_threshold=0:1"], ["capacity", "--rate", "2/s"], ["trace", "inspect", "t"]
        ] {
            let r = try runCLI(args + ["--format", "csv"])
            XCTAssertEqual(r.status, 2, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("'csv' is invalid for '--format"), "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("'table' and 'json'"), "\(args): \(r.stderr)")
        }
    }

    func testCapacityNamesANegativeRate() throws {
        for (rate, says) in [("-2/s", "'-2/s' is a negative rate"), ("0/min", "'0/min' is a rate of zero")] {
            let r = try runCLI(["capacity", "--rate", rate, "--slo", "latency_ms.ttft.p99<=2000"])
            XCTAssertEqual(r.status, 2, r.stderr)
            XCTAssertTrue(r.stderr.contains("--rate: \(says)"), r.stderr)
        }
        XCTAssertThrowsError(try CapacityPlanner.parseRate("-1/s")) { e in
            XCTAssertTrue("\(e)".contains("negative rate"), "\(e)")
        }
    }

    func testJobsBelowOneIsBadInput() throws {
        let r = try runCLI(["sweep", "--grid", "tiers.large.replicas=1,2", "--jobs", "0", "--out", tempDir() + "/sw"])
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertTrue(r.stderr.contains("--jobs"), r.stderr)
    }

    /// whatif's table shows each variant's value beside its change (`0.2408 (+0.0%)`), the value the
    /// JSON has; the JSON keeps its keys.
    func testWhatIfTableShowsValuesBesideChanges() throws {
        let args = [
            "whatif", "--vary", "tiers.large.replicas=1,2", "--set", "trace.synthetic.requests=30", "--jobs", "1",
            "--metric", "throughput_rps", "--metric", "cost_usd.total", "--metric", "requests_failed"
        ]
        let table = try runCLI(args)
        let json = try runCLI(args + ["--format", "json"])
        XCTAssertEqual(table.status, 0, table.stderr)
        XCTAssertEqual(json.status, 0, json.stderr)
        let doc = try JSONParser.parse(json.stdout)
        guard case .array(let rows)? = doc["rows"] else { return XCTFail("no rows: \(json.stdout)") }
        XCTAssertEqual(rows.count, 2)
        XCTAssertNotNil(number(doc, "baseline.throughput_rps"))
        let lines = table.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 6, table.stdout)  // title, head, baseline, 2 variants, note
        for (k, row) in rows.enumerated() {
            let cells = lines[3 + k].components(separatedBy: "  ").filter { !$0.isEmpty }.map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            // The axis, three metrics, and the run's stability (30 requests: too short to be a result).
            XCTAssertEqual(cells.count, 5, lines[3 + k])
            XCTAssertEqual(cells[4], "TOO_SHORT (not a result)")
            for (m, metric) in ["throughput_rps", "cost_usd.total", "requests_failed"].enumerated() {
                let cell = cells[1 + m]
                // The metric's key holds dots: no number(_:_:) path.
                let entry = row["metrics"]?[metric]
                XCTAssertNotNil(number(entry, "delta"), metric)
                guard let value = number(entry, "value") else { return XCTFail("no value of \(metric): \(row)") }
                XCTAssertTrue(cell.hasPrefix(String(format: "%.4g (", value)), "\(metric): '\(cell)' lacks \(value)")
                XCTAssertNotNil(
                    cell.range(of: #" \((=|[+-][0-9.]+%|[+-][0-9.e+-]+)\)$"#, options: .regularExpression),
                    "\(metric): '\(cell)'")
            }
        }
        XCTAssertTrue(lines[3].hasPrefix("1 "), lines[3])
        XCTAssertTrue(lines[3].contains("(=)"), "replicas=1 is the baseline's value: \(lines[3])")
    }
}
