import Foundation

/// File helpers that never leave a half-written output behind: everything is written to a
/// temporary sibling and renamed into place.
public enum FileIO {
    /// Runs a file operation on `path`, turning Foundation's errors into a `HandoffError` naming
    /// the file and the system's reason: exit 2 when the path is the problem (no permission, a
    /// file where a directory should be, a read-only disk), exit 1 otherwise (a full disk).
    public static func io<T>(_ path: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as HandoffError { throw e } catch {
            let ns = error as NSError
            let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError
            let posix: Int32? =
                ns.domain == NSPOSIXErrorDomain
                ? Int32(ns.code)
                : underlying.flatMap { $0.domain == NSPOSIXErrorDomain ? Int32($0.code) : nil }
            let reason = posix.map { String(cString: strerror($0)) } ?? ns.localizedDescription
            let pathProblems: Set<Int32> = [EACCES, EPERM, ENOTDIR, EISDIR, EROFS, ENOENT, EEXIST, ENAMETOOLONG, ELOOP]
            // Foundation's own codes for the same path problems (CocoaError.Code).
            let cocoaPathProblems: Set<Int> = [4, 257, 258, 260, 513, 514, 516, 642]
            let isPath =
                posix.map { pathProblems.contains($0) }
                ?? (ns.domain == NSCocoaErrorDomain && cocoaPathProblems.contains(ns.code))
            throw HandoffError(file: path, "cannot write: \(reason)", exitCode: isPath ? 2 : 1)
        }
    }

    /// Writes `data` to `path` atomically (temporary file in the same directory, then rename).
    public static func writeAtomically(_ data: Data, to path: String) throws {
        try io(path) { try writeAtomicallyUnwrapped(data, to: path) }
    }

    static func writeAtomicallyUnwrapped(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        do {
            try data.write(to: tmp)
            if rename(tmp.path, url.path) != 0 {
                throw HandoffError(
                    "cannot rename \(tmp.path) to \(path): \(String(cString: strerror(errno)))", exitCode: 1)
            }
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            throw error
        }
    }

    public static func writeAtomically(_ text: String, to path: String) throws {
        try writeAtomically(Data(text.utf8), to: path)
    }

    /// Builds a directory in a temporary sibling with `body`, marks it as Handoff's output (listing
    /// what `body` wrote), then renames it to `path`. An existing directory at `path` is replaced
    /// only once the new one is complete, and only when it holds nothing but Handoff's own files
    /// (those its marker lists, or `ownNames`): whatever else it holds is never deleted.
    public static func writeDirectoryAtomically(
        _ path: String, ownNames: Set<String> = [], _ body: (String) throws -> Void
    ) throws {
        guard !path.isEmpty else { throw HandoffError.input("the output path is empty; give a directory to write") }
        try io(path) { try writeDirectoryUnwrapped(path, ownNames: ownNames, body) }
    }

    static func writeDirectoryUnwrapped(_ path: String, ownNames: Set<String>, _ body: (String) throws -> Void) throws {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        let parent = url.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
        let tmp = parent.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        try? FileManager.default.removeItem(at: tmp)
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        do {
            try body(tmp.path)
            let written = try FileManager.default.contentsOfDirectory(atPath: tmp.path)
            try OutputPath.mark(tmp.path, names: written)
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) {
                guard isDir.boolValue else {
                    throw HandoffError.input("is a file; expected a directory path", file: path)
                }
                let own = (OutputPath.ownFiles(url.path) ?? []).union(ownNames).union([OutputPath.marker])
                let foreign = try FileManager.default.contentsOfDirectory(atPath: url.path).filter {
                    !own.contains($0) && !OutputPath.isOwnTemporary($0)
                }
                guard foreign.isEmpty else {
                    throw HandoffError.input(
                        "holds \(OutputPath.list(foreign.sorted())), which Handoff did not write; it is left as it was",
                        file: path)
                }
                let old = parent.appendingPathComponent(".\(url.lastPathComponent).old-\(getpid())")
                try? FileManager.default.removeItem(at: old)
                try FileManager.default.moveItem(at: url, to: old)
                try FileManager.default.moveItem(at: tmp, to: url)
                try? FileManager.default.removeItem(at: old)
            } else {
                try FileManager.default.moveItem(at: tmp, to: url)
            }
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            throw error
        }
    }

    /// Writes `text` as `dir/name`, in a directory being built by `writeDirectoryAtomically`
    /// (which makes the whole directory atomic, so the file need not be).
    public static func put(_ text: String, in dir: String, _ name: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: dir + "/" + name))
    }

    /// Prepares `path` for an output written file by file in place (a journal that a rerun
    /// resumes): checks it (`OutputPath.check`), creates it, and marks it as Handoff's, listing
    /// `ownNames`.
    public static func prepareOutputDirectory(
        _ path: String, argument: String, force: Bool = false,
        inputs: [String] = [], ownNames: Set<String>
    ) throws {
        try OutputPath.check(
            path, kind: .directory, argument: argument, force: force, inputs: inputs, ownNames: ownNames, inPlace: true)
        try io(path) {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            try OutputPath.mark(path, names: Array(ownNames))
        }
    }

    /// Reads a whole file, with an input error naming the file when it cannot.
    public static func read(_ path: String) throws -> Data {
        guard !path.isEmpty else { throw HandoffError.input("the file path is empty; give the path of a file") }
        guard let d = FileManager.default.contents(atPath: path) else {
            throw HandoffError.input(
                FileManager.default.fileExists(atPath: path) ? "cannot read the file" : "no such file", file: path)
        }
        return d
    }
}

/// A read-only memory mapping of a whole file; unmapped when released.
public final class MappedFile: @unchecked Sendable {
    public let base: UnsafeRawPointer
    public let size: Int

    public init(path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw HandoffError.input("cannot open: \(String(cString: strerror(errno)))", file: path) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw HandoffError.input("cannot stat", file: path) }
        size = Int(st.st_size)
        if size == 0 {
            base = UnsafeRawPointer(UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 8))
            return
        }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw HandoffError.input("cannot map: \(String(cString: strerror(errno)))", file: path)
        }
        base = UnsafeRawPointer(p)
    }

    deinit {
        if size == 0 {
            UnsafeMutableRawPointer(mutating: base).deallocate()
        } else {
            munmap(UnsafeMutableRawPointer(mutating: base), size)
        }
    }
}
