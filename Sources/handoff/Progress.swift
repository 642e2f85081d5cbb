import ArgumentParser
import Foundation
import Handoff

/// Progress on stderr when it is a terminal (and a final line either way).
final class Progress: @unchecked Sendable {
    let label: String
    let tty = isatty(2) != 0
    let start = Monotonic.now()
    let lock = NSLock()
    /// Off a terminal, `note` writes a line at most every `every` seconds (nil: never).
    let every: Double?
    private var lastLine = 0.0
    init(_ label: String, offTerminalEvery every: Double? = nil) {
        self.label = label
        self.every = every
    }
    func update(_ done: Int, _ total: Int, _ extra: String = "") {
        lock.lock()
        defer { lock.unlock() }
        let el = Monotonic.now() - start
        let eta = done > 0 ? el / Double(done) * Double(total - done) : 0
        let line = String(format: "%@: %d/%d%@, %.0f s elapsed, ETA %.0f s", label, done, total, extra, el, eta)
        if tty {
            FileHandle.standardError.write(Data("\r\u{1B}[K\(line)".utf8))
            if done == total { FileHandle.standardError.write(Data("\n".utf8)) }
        } else if done == total {
            FileHandle.standardError.write(Data("\(line)\n".utf8))
        }
    }
    /// A status line for searches of unknown length (on a terminal only).
    func note(_ text: String) {
        lock.lock()
        defer { lock.unlock() }
        guard tty else {
            let el = Monotonic.now() - start
            guard let every, el - lastLine >= every else { return }
            lastLine = el
            FileHandle.standardError.write(Data(String(format: "%@: %@ (%.0f s)\n", label, text, el).utf8))
            return
        }
        FileHandle.standardError.write(
            Data(String(format: "\r\u{1B}[K%@: %@ (%.0f s)", label, text, Monotonic.now() - start).utf8))
    }
    func finish() { if tty { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) } }
}
