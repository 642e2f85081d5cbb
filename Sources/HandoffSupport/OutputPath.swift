import Foundation

/// The rules every output path obeys, so that no command destroys what the user has:
///
/// - An output that does not exist yet is created (files and directories are built in a
///   temporary sibling and renamed into place; see `FileIO`).
/// - An output that exists is replaced only when it is Handoff's own: a directory holding the
///   `.handoff-output` marker and nothing but the files listed in it, or an empty directory. A
///   directory or file that exists and is not Handoff's own is an error unless `force`.
/// - Even with `force`, Handoff never replaces an input of the same command, a directory that
///   holds an input, or a directory that holds anything but Handoff's own files.
/// - An output written in place (`inPlace`: a journal a rerun resumes) deletes nothing: it may go
///   into a directory that also holds other files, which it leaves alone (with `force` when the
///   directory is not marked).
/// - A single-file output (a trace, prompts, a calibration) is Handoff's own when the ledger
///   `.handoff-files` beside it lists its name with its current size and modification time, as
///   Handoff left it (`markFile`): a rerun then replaces it without `force`. A file the user wrote,
///   or edited since, is not listed as it is, so it stays protected.
public enum OutputPath {
    /// The marker file in every output directory: the names Handoff wrote there, one per line.
    public static let marker = ".handoff-output"

    /// The ledger of single files Handoff wrote in a directory: `name<TAB>size<TAB>mtime` lines.
    public static let filesLedger = ".handoff-files"

    public enum Kind: Sendable { case file, directory }

    /// Checks that `path` may receive an output of `kind`; throws an input error naming
    /// `argument` (for example `--out`) otherwise.
    ///
    /// - Parameters:
    ///   - inputs: the command's input files and directories; never replaced.
    ///   - ownNames: for a directory, the names this command writes; with `force`, an existing
    ///     directory without the marker may be replaced when it holds only these.
    ///   - inPlace: the directory is written file by file and never replaced as a whole.
    public static func check(
        _ path: String, kind: Kind, argument: String, force: Bool = false,
        inputs: [String] = [], ownNames: Set<String> = [], inPlace: Bool = false
    ) throws {
        guard !path.isEmpty else {
            throw HandoffError.input(
                "the output path is empty; give a \(kind == .file ? "file" : "directory") to write", field: argument)
        }
        let target = absolute(path)
        for input in inputs where !input.isEmpty {
            let i = absolute(input)
            if i == target {
                throw HandoffError.input(
                    "\(path) is also this command's input; write the output somewhere else", field: argument)
            }
            if i.hasPrefix(target == "/" ? "/" : target + "/") {
                throw HandoffError.input(
                    "\(path) holds this command's input \(input); write the output somewhere else", field: argument)
            }
        }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: target, isDirectory: &isDir) else { return }
        switch kind {
        case .file:
            if isDir.boolValue {
                throw HandoffError.input("\(path) is a directory; expected a file path", field: argument)
            }
            if !force && !isOwnFile(target) {
                throw HandoffError.input(
                    "\(path) exists and Handoff did not write it (or it changed since); pass --force to replace it, or choose another path",
                    field: argument)
            }
        case .directory:
            guard isDir.boolValue else {
                throw HandoffError.input("\(path) is a file; expected a directory path", field: argument)
            }
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: target)) ?? []
            let recorded = ownFiles(target)
            if let recorded {
                let foreign = entries.filter {
                    $0 != marker && $0 != filesLedger && !recorded.contains($0) && !isOwnTemporary($0)
                }.sorted()
                if foreign.isEmpty || inPlace { return }
                throw HandoffError.input(
                    "\(path) is an earlier Handoff output but also holds \(list(foreign)), which Handoff did not write; move them, or choose another path",
                    field: argument)
            }
            if entries.isEmpty { return }
            if inPlace {
                if force { return }
                throw HandoffError.input(
                    "\(path) exists and is not marked as Handoff output; pass --force to write \(list(ownNames.sorted())) into it (nothing else in it is touched), or choose another path",
                    field: argument)
            }
            let foreign = entries.filter { !ownNames.contains($0) }.sorted()
            if foreign.isEmpty && force { return }
            if foreign.isEmpty {
                throw HandoffError.input(
                    "\(path) exists and is not marked as Handoff output; pass --force to replace it, or choose another path",
                    field: argument)
            }
            throw HandoffError.input(
                "\(path) exists and holds \(list(foreign)), which Handoff did not write; choose another path (--force replaces only a directory of Handoff's own files)",
                field: argument)
        }
    }

    /// The names recorded in the marker of `dir`, or nil when it has none.
    public static func ownFiles(_ dir: String) -> Set<String>? {
        guard let d = FileManager.default.contents(atPath: dir + "/" + marker), let s = String(data: d, encoding: .utf8)
        else { return nil }
        return Set(s.split(separator: "\n").map(String.init).filter { !$0.isEmpty })
    }

    /// Writes the marker of `dir`, listing `names` (and whatever an earlier marker listed).
    public static func mark(_ dir: String, names: [String]) throws {
        let all = (ownFiles(dir) ?? []).union(names).subtracting([marker]).sorted()
        try (all.joined(separator: "\n") + "\n").write(toFile: dir + "/" + marker, atomically: true, encoding: .utf8)
    }

    /// The ledger line of a file as it is now: its name, size and modification time.
    static func fileStamp(_ path: String) -> String? {
        guard let a = try? FileManager.default.attributesOfItem(atPath: path),
            let size = a[.size] as? NSNumber, let date = a[.modificationDate] as? Date
        else { return nil }
        let name = URL(fileURLWithPath: path).lastPathComponent
        return "\(name)\t\(size.int64Value)\t\(JSONWriter.number(date.timeIntervalSince1970))"
    }

    static func ledger(_ dir: String) -> [String] {
        guard let d = FileManager.default.contents(atPath: dir + "/" + filesLedger),
            let s = String(data: d, encoding: .utf8)
        else { return [] }
        return s.split(separator: "\n").map(String.init)
    }

    /// Whether the ledger beside `path` lists it exactly as it is now.
    public static func isOwnFile(_ path: String) -> Bool {
        let url = URL(fileURLWithPath: path)
        guard let stamp = fileStamp(path) else { return false }
        return ledger(url.deletingLastPathComponent().path).contains(stamp)
    }

    /// Records `path`, just written by Handoff, in the ledger beside it (replacing its old line).
    public static func markFile(_ path: String) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        guard let stamp = fileStamp(path) else { return }
        let name = url.lastPathComponent + "\t"
        let lines = ledger(dir).filter { !$0.hasPrefix(name) } + [stamp]
        try FileIO.writeAtomically(lines.joined(separator: "\n") + "\n", to: dir + "/" + filesLedger)
    }

    static func isOwnTemporary(_ name: String) -> Bool { name.hasPrefix(".") && name.contains(".tmp-") }

    static func absolute(_ path: String) -> String {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        return url.resolvingSymlinksInPath().path
    }

    static func list(_ names: [String]) -> String {
        names.prefix(3).joined(separator: ", ") + (names.count > 3 ? " and \(names.count - 3) more" : "")
    }
}
