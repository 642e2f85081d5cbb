import ArgumentParser
import Foundation
import Handoff

/// `--force` and the checks every command runs on its output path before doing any work
/// (`OutputPath`: an existing output that is not Handoff's own is an error unless --force, and
/// an input, or a directory holding anything but Handoff's files, is never replaced).
struct OutputOptions: ParsableArguments {
    @Flag(
        help:
            "Replace an existing output that Handoff did not mark as its own. Never replaces an input, nor a directory that holds files Handoff did not write."
    )
    var force = false

    /// - Parameter inPlace: the command writes into the directory file by file (a journal it resumes) instead of replacing it.
    func directory(
        _ path: String, _ argument: String, inputs: [String?] = [], ownNames: Set<String>, inPlace: Bool = false
    ) throws {
        try OutputPath.check(
            path, kind: .directory, argument: argument, force: force, inputs: inputs.compactMap { $0 },
            ownNames: ownNames, inPlace: inPlace)
    }

    func file(_ path: String, _ argument: String, inputs: [String?] = []) throws {
        try OutputPath.check(path, kind: .file, argument: argument, force: force, inputs: inputs.compactMap { $0 })
    }

    /// Records a single file just written, so that a rerun may replace it (`OutputPath.markFile`).
    func wrote(_ path: String) throws { try OutputPath.markFile(path) }

    /// A trace output: a `.jsonl` file, or a columnar directory.
    func trace(_ path: String, _ argument: String, inputs: [String?] = []) throws {
        if path.hasSuffix(".jsonl") {
            try file(path, argument, inputs: inputs)
        } else {
            try directory(path, argument, inputs: inputs, ownNames: TraceColumnar.fileNames)
        }
    }

    /// Checks, creates and marks a directory that receives files one by one (`FileIO.prepareOutputDirectory`).
    func prepare(_ path: String, _ argument: String, inputs: [String?] = [], ownNames: Set<String>) throws {
        try FileIO.prepareOutputDirectory(
            path, argument: argument, force: force, inputs: inputs.compactMap { $0 }, ownNames: ownNames)
    }
}

/// Formats a summary number for tables.
func fmt(_ x: Double?) -> String { HumanNumber.format(x) }

/// Writes `json` (pretty, atomically) as `dir/name`, in a directory already checked or prepared
/// (`OutputOptions`); creates and marks `dir` when it is new.
func writeJSON(_ json: JSONValue, to dir: String, name: String) throws {
    try FileIO.prepareOutputDirectory(dir, argument: "--out", force: true, ownNames: [name])
    try FileIO.writeAtomically(JSONWriter.write(json, pretty: true) + "\n", to: dir + "/" + name)
}

/// `--jobs`: at least 1; all cores when not given (the help says so once, ArgumentParser adds no
/// machine-dependent default because the option is optional).
func jobCount(_ jobs: Int?) throws -> Int {
    guard let jobs else { return ProcessInfo.processInfo.activeProcessorCount }
    guard jobs >= 1 else { throw HandoffError.input("expected ≥ 1", field: "--jobs") }
    return jobs
}
