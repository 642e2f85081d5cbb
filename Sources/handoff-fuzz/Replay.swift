// Without libFuzzer (a plain `swift build`), handoff-fuzz replays files:
//   HANDOFF_FUZZ_TARGET=jsonl handoff-fuzz FILE...
// scripts/fuzz builds it with -sanitize=fuzzer -DFUZZING, where libFuzzer's own main drives
// `fuzzOne` instead.
#if !FUZZING
import Foundation
import HandoffModel
import HandoffSupport

@main
struct Replay {
    static func main() {
        var failures = 0
        for path in CommandLine.arguments.dropFirst() {
            guard let d = FileManager.default.contents(atPath: path) else {
                print("cannot read \(path)")
                failures += 1
                continue
            }
            do { try FuzzEntry.run(target, d, scratch: scratch) } catch {
                print("\(path): \(error)")
                failures += 1
            }
        }
        print("\(CommandLine.arguments.count - 1) inputs, \(failures) violations")
        exit(failures == 0 ? 0 : 1)
    }
}
#endif

#if FUZZING
import Foundation

/// libFuzzer's driver (compiler-rt FuzzerDriver.cpp), called from our own main: SwiftPM links an
/// executable's main itself, so libFuzzer's main is not used.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

@main
struct FuzzMain {
    static func main() {
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, { fuzzOne($0, $1) }))
    }
}
#endif
