import Foundation
import XCTest

/// Every documented command runs (issue 26): each `handoff …` line of the README's and docs/*.md's
/// shell blocks and each `Example:` of every `--help`, found mechanically (DocCommands), run in
/// document order in a scratch folder laid out like the package root (Scenarios/, ../shared), so a
/// file one command writes (demo.jsonl, az.jsonl) is there for the next. Commands that need what a
/// test machine does not have (model servers, the user's own files) are skipped by the rules below,
/// each with its reason; public equivalents stand in where they exist (the Azure 2023 and Mooncake
/// traces of ../shared/data/public-traces under the file names the docs use).
final class DocCommandTests: XCTestCase {
    /// The documents, in the order they are run (README first: docs/tuning.md repeats some of its commands).
    static var documents: [String] {
        let docs = (try? FileManager.default.contentsOfDirectory(atPath: packageRoot + "/docs")) ?? []
        return ["README.md"] + docs.filter { $0.hasSuffix(".md") }.sorted().map { "docs/" + $0 }
    }

    static func documentCommands() throws -> [(document: String, commands: [DocCommand])] {
        try documents.map { doc in
            (doc, DocCommands.markdown(try String(contentsOfFile: packageRoot + "/" + doc, encoding: .utf8), file: doc))
        }
    }

    static func helpCommands() throws -> [DocCommand] {
        try DocCommands.helpTexts().flatMap { c, help in
            DocCommands.helpExamples(help, command: (["handoff"] + c).joined(separator: " "))
        }
    }

    func testExtractionFindsTheDocumentedCommands() throws {
        let docs = try Self.documentCommands()
        let readme = docs.first { $0.document == "README.md" }!.commands
        XCTAssertGreaterThanOrEqual(readme.count, 30, "the README's shell blocks: \(readme.map(\.text))")
        XCTAssertGreaterThanOrEqual(docs.dropFirst().map(\.commands.count).reduce(0, +), 15)
        // A continuation joined, a comment stripped, an indented block (docs/traces.md) found.
        XCTAssertTrue(
            readme.contains {
                $0.text.hasPrefix(
                    "handoff simulate --set \"trace={file: $PWD/mc.jsonl}\" --set \"traffic={arrival: replay}\" ")
                    && $0.text.hasSuffix("--set tiers.small.routing=prefix_affinity")
            }, "\(readme.map(\.text))")
        XCTAssertTrue(readme.contains { $0.text == "handoff simulate" })
        XCTAssertTrue(
            docs.first { $0.document == "docs/traces.md" }!.commands.contains { $0.text.hasPrefix("handoff simulate") })
        let help = try Self.helpCommands()
        XCTAssertGreaterThanOrEqual(help.count, 5, "\(help)")
        for sub in ["whatif", "tune", "capacity", "trace import-requests"] {
            XCTAssertTrue(
                help.contains { $0.source == "handoff \(sub) --help" }, "no Example: in handoff \(sub) --help")
        }
    }

    func testShellWords() {
        let pwd = "/tmp/x"
        XCTAssertEqual(
            ShellWords(#"handoff simulate --set "trace={file: $PWD/a.jsonl}" --set 'x=$PWD' a\ b"#, pwd: pwd),
            ShellWords(words: ["handoff", "simulate", "--set", "trace={file: /tmp/x/a.jsonl}", "--set", "x=$PWD", "a b"]
            ))
        XCTAssertEqual(
            ShellWords("handoff simulate --format json > pred.json  # the prediction", pwd: pwd),
            ShellWords(words: ["handoff", "simulate", "--format", "json"], stdout: "pred.json"))
        XCTAssertEqual(
            ShellWords("handoff engine serve small --port 8081 &   # in the background", pwd: pwd),
            ShellWords(words: ["handoff", "engine", "serve", "small", "--port", "8081"], background: true))
        XCTAssertEqual(
            ShellWords("handoff x --key ${HOME}/k --p=${PWD}", pwd: pwd),
            ShellWords(words: ["handoff", "x", "--key", "${HOME}/k", "--p=/tmp/x"], variables: ["HOME"]))
        let md = """
            a
            ```sh
            handoff a \\
              --b 1   # c
            handoff d 'e # f'
            ```

                handoff g
            Save it as `p.yaml`:
              ```yaml
              name: p
              tiers: {}
              ```
            ```json
            handoff h
            ```
            """
        XCTAssertEqual(
            DocCommands.markdown(md, file: "m"),
            [
                DocCommand(source: "m:3", text: "handoff a --b 1"),
                DocCommand(source: "m:5", text: "handoff d 'e # f'"),
                DocCommand(source: "m:8", text: "handoff g"),
                DocCommand(source: "m:11", text: "name: p\ntiers: {}\n", writes: "p.yaml")
            ])
    }

    func testEveryDocumentedCommandRuns() throws {
        let started = Date()
        var run = DocRun()
        // The option's own line, not the Example: that already uses it.
        run.knowsSyntheticDifficulty = try runCLI(["trace", "import-requests", "--help"]).stdout.contains(
            "\n  --synthetic-difficulty")
        for (doc, commands) in try Self.documentCommands() { try run.document(doc, commands) }
        try run.document("--help examples", try Self.helpCommands())
        print(run.report(seconds: Date().timeIntervalSince(started)))
        XCTAssertGreaterThanOrEqual(run.ran.count, 30, "fewer documented commands ran than the README alone has")
    }
}

/// One pass over the documented commands: what ran, what was skipped and why.
struct DocRun {
    var knowsSyntheticDifficulty = true
    var ran: [(command: DocCommand, seconds: Double, shrunk: String?)] = []
    var skipped: [(command: DocCommand, reason: String)] = []
    /// Files the documentation has the reader write (DocCommands.markdown), written before the commands that read them.
    var written: [DocCommand] = []
    /// Commands already run, by their text: a command repeated in another document runs once.
    var seen: [String: String] = [:]

    /// Runs a document's commands in order in a new scratch folder.
    mutating func document(_ name: String, _ commands: [DocCommand]) throws {
        let cwd = try DocRun.scratchFolder()
        defer {
            try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: cwd).deletingLastPathComponent().path)
        }
        var skippedOutputs: [String] = []
        for c in commands {
            if let name = c.writes {
                if let o = skippedOutputs.first(where: { o in
                    c.text.split(separator: " ").contains { DocRun.mentions(String($0), o) }
                }) {
                    skipped.append((c, "not written: it names \(o), the output of a command skipped above"))
                    skippedOutputs.append(name)
                } else {
                    try c.text.write(toFile: cwd + "/" + name, atomically: true, encoding: .utf8)
                    written.append(c)
                }
                continue
            }
            var sh = ShellWords(c.text, pwd: cwd)
            let reason =
                DocRun.skipReason(sh, cwd: cwd, knowsSyntheticDifficulty: knowsSyntheticDifficulty)
                ?? skippedOutputs.first { o in sh.words.contains { DocRun.mentions($0, o) } }.map {
                    "needs \($0), the output of a command skipped above"
                }
            if let reason {
                skipped.append((c, reason))
                skippedOutputs += DocRun.outputs(sh)
                continue
            }
            // The same words (with $PWD as written): the same run, whatever the spacing.
            let key = ShellWords(c.text, pwd: "$PWD").words.joined(separator: "\u{0}")
            if let first = seen[key] {
                skipped.append((c, "the same command as \(first), run there"))
                continue
            }
            seen[key] = c.source
            let shrunk = DocRun.shrink(&sh)
            let t0 = Date()
            let r = try runCLI(Array(sh.words.dropFirst()), cwd: cwd)
            ran.append((c, Date().timeIntervalSince(t0), shrunk))
            if let out = sh.stdout { try r.stdout.write(toFile: cwd + "/" + out, atomically: true, encoding: .utf8) }
            if r.status != 0 {
                XCTFail(
                    "\(c.source): `\(sh.words.joined(separator: " "))` exited \(r.status) in \(cwd)\nstderr:\n"
                        + r.stderr.suffix(3000))
            }
        }
    }

    func report(seconds: Double) -> String {
        let commandsSkipped = skipped.filter { $0.command.writes == nil }.count
        let files = written.count + skipped.count - commandsSkipped
        var s =
            "documented commands: \(ran.count + commandsSkipped) found, \(ran.count) run, \(commandsSkipped) skipped"
        s += String(format: "; %d files to write, %d written; %.0f s\n", files, written.count, seconds)
        for r in ran {
            s += String(format: "  ran %5.1f s  %@: %@", r.seconds, r.command.source, r.command.text)
            s += r.shrunk.map { " [shrunk: \($0)]" } ?? ""
            s += "\n"
        }
        for w in written { s += "  wrote        \(w.source): \(w.writes!)\n" }
        for k in skipped {
            let what = k.command.writes.map { "the file \($0)" } ?? k.command.text
            s += "  skipped  \(k.command.source): \(what)\n           (\(k.reason))\n"
        }
        return s
    }
}

extension DocRun {
    /// A temporary package root: `handoff/` (the commands' working directory) with `Scenarios`
    /// linked to the package's, and the public traces under the names the docs give the downloads;
    /// beside it `shared/`, the package root's `../shared` (or just its public traces). Reports/ is
    /// not linked: `handoff report` writes there.
    static func scratchFolder() throws -> String {
        let fm = FileManager.default
        let base = tempDir()
        let cwd = base + "/handoff"
        try fm.createDirectory(atPath: cwd, withIntermediateDirectories: true)
        try fm.createSymbolicLink(atPath: cwd + "/Scenarios", withDestinationPath: packageRoot + "/Scenarios")
        let shared = URL(fileURLWithPath: packageRoot).deletingLastPathComponent().appendingPathComponent("shared").path
        if fm.fileExists(atPath: shared) {
            try fm.createSymbolicLink(atPath: base + "/shared", withDestinationPath: shared)
        } else if let traces = publicTracesDir {
            try fm.createDirectory(atPath: base + "/shared/data", withIntermediateDirectories: true)
            try fm.createSymbolicLink(atPath: base + "/shared/data/public-traces", withDestinationPath: traces)
        }
        if let traces = publicTracesDir {
            for (name, file) in publicStandIns {
                try fm.createSymbolicLink(atPath: cwd + "/" + name, withDestinationPath: traces + "/" + file)
            }
        }
        return cwd
    }

    /// The downloads the docs name, and the copies in ../shared/data/public-traces that stand in for them.
    static let publicStandIns = [
        "AzureLLMInferenceTrace_conv.csv": "azure-llm-2023-conv.csv",
        "mooncake_conversation_trace.jsonl": "mooncake-conversation.jsonl"
    ]

    /// Subcommands that drive real model servers (EngineTests runs them against llama-servers).
    static let serverCommands: Set<String> = [
        "record", "calibrate", "closed-loop", "specs-loop", "validate", "validate-speculative", "validate-specs"
    ]

    /// Files the user brings, with no public stand-in here.
    static let usersFiles = [
        "my-vllm-run.json": "the user's own `vllm bench serve --save-result` file",
        "my-deployment.yaml": "the user's own scenario",
        "annotated.jsonl": "the user's own SplitReason-annotated text",
        "measured.json": "the user's own `vllm bench serve --save-result` file",
        "vidur-arxiv-": "the trace scripts/vidur-compare VIDUR_CHECKOUT builds from a Vidur checkout"
    ]

    /// Why `sh` cannot run here, or nil when it can.
    static func skipReason(_ sh: ShellWords, cwd: String, knowsSyntheticDifficulty: Bool) -> String? {
        let w = sh.words
        if w.contains("...") || w.contains(where: { $0.contains("…") }) {
            return "a placeholder (...) stands for the user's own arguments"
        }
        if w.count > 2, w[1] == "engine", w[2] == "serve" { return "starts a llama-server (EngineTests runs it)" }
        if w.count > 1, serverCommands.contains(w[1]) { return "drives running model servers (EngineTests runs it)" }
        if w.contains(where: { $0.contains("http://") || $0.contains("https://") || $0 == "--server" }) {
            return "needs a server at a URL"
        }
        for (file, what) in usersFiles where w.contains(where: { $0.contains(file) }) { return "needs \(what)" }
        if let v = sh.variables.first { return "needs the environment variable $\(v)" }
        if w.contains("--synthetic-difficulty"), !knowsSyntheticDifficulty {
            return "needs --synthetic-difficulty, which this build of import-requests does not have yet"
        }
        for word in w {
            let path = word.hasPrefix("/") ? word : cwd + "/" + word
            if (publicStandIns[word] != nil || word.hasPrefix("../")) && !FileManager.default.fileExists(atPath: path) {
                return "needs \(word), which is not on this machine"
            }
        }
        return nil
    }

    /// The files a command writes: its -o/--output/--out values and its redirected stdout.
    static func outputs(_ sh: ShellWords) -> [String] {
        var o = sh.stdout.map { [$0] } ?? []
        for (k, w) in sh.words.enumerated().dropLast() where ["-o", "--output", "--out"].contains(w) {
            o.append(sh.words[k + 1])
        }
        return o
    }

    /// Whether a word names `file` (as itself, or as the last part of a path, as in `trace={file: $PWD/az.jsonl}`).
    static func mentions(_ word: String, _ file: String) -> Bool {
        var rest = word[...]
        while let r = rest.range(of: file) {
            let before = r.lowerBound == word.startIndex ? " " : word[word.index(before: r.lowerBound)]
            let after = r.upperBound == word.endIndex ? " " : word[r.upperBound]
            if " /=".contains(before), " }/,".contains(after) { return true }
            rest = word[r.upperBound...]
        }
        return false
    }

    /// Commands that take minutes in a debug build run smaller: (prefix, the option that shows the
    /// documented size is kept, the arguments added, why).
    static let shrinks: [(prefix: [String], unless: String, add: [String], why: String)] = [
        (
            ["bench", "serving"], "--requests", ["--requests", "1000"],
            "10,000 requests of 8k-16k tokens take 45 s in a debug build"
        ),
        (
            ["bench", "scaling"], "--requests", ["--requests", "2000", "--backlogs", "10,100,1000", "--repeats", "1"],
            "20,000 requests at backlogs up to 10,000, three times, take 2 minutes in a debug build"
        ),
        (
            ["report", "Scenarios/splitreason-a6000.yaml"], "--thresholds", ["--set", "trace.synthetic.requests=50"],
            "21 thresholds of 200 requests of 8,000 tokens take 75 s in a debug build"
        ),
        (
            // capacity judges no plan on fewer than 5,000 requests, and doubles them for the headroom,
            // then plans each tier alone the same way: shorter outputs keep every path, 10× faster.
            ["capacity"], "trace.synthetic.output_tokens.median=200",
            ["--set", "trace.synthetic.output_tokens.median=200"],
            "capacity plans the hybrid and each tier alone on 5,000-20,000 requests of 2,000 tokens: 4-8 minutes each in a debug build"
        ),
        (
            ["trace", "import-requests", "--format", "azure", "../shared/data/public-traces/azure-llm-2023-conv.csv"],
            "--duration", ["--duration", "300"],
            "docs/tuning.md's deployment search over the whole hour (19,366 requests) takes minutes in a debug build"
        )
    ]

    /// Adds a shrink's arguments to `sh` when one applies; returns what was added.
    static func shrink(_ sh: inout ShellWords) -> String? {
        let args = Array(sh.words.dropFirst())
        for s in shrinks where args.starts(with: s.prefix) && !args.contains(s.unless) {
            sh.words += s.add
            return s.add.joined(separator: " ") + ": " + s.why
        }
        return nil
    }
}
