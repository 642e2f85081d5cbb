import Foundation
import HandoffModel
import HandoffSupport

/// One scratch directory per process, for the columnar target's files.
let scratch: String = {
    let d = NSTemporaryDirectory() + "handoff-fuzz-\(getpid())"
    try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}()

/// The target, from HANDOFF_FUZZ_TARGET (scenario, jsonl or columnar).
let target: FuzzEntry.Target = {
    let name = ProcessInfo.processInfo.environment["HANDOFF_FUZZ_TARGET"] ?? "scenario"
    guard let t = FuzzEntry.Target(rawValue: name) else {
        FileHandle.standardError.write(
            Data("HANDOFF_FUZZ_TARGET must be one of \(FuzzEntry.Target.allCases.map(\.rawValue))\n".utf8))
        exit(2)
    }
    return t
}()

/// libFuzzer's entry point (linked with -sanitize=fuzzer by scripts/fuzz). A contract violation
/// aborts, which libFuzzer records as a crash with its input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Data(bytes: $0, count: size) } ?? Data()
    do { try FuzzEntry.run(target, bytes, scratch: scratch) } catch {
        FileHandle.standardError.write(Data("handoff-fuzz \(target.rawValue): \(error)\n".utf8))
        abort()
    }
    return 0
}
