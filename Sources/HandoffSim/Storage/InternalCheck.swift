/// The simulator's self-checks, under a compile-time switch as swift-collections' `Heap+Invariants`
/// (`COLLECTIONS_INTERNAL_CHECKS`): `HANDOFF_INTERNAL_CHECKS` is defined in debug builds of
/// HandoffSim (Package.swift), which the tests use, and not in release builds, where the checks
/// compile to nothing. A failed check stops with its message: `fatalError`, not `precondition`,
/// which `-Ounchecked` would drop.
enum InternalChecks {
    #if HANDOFF_INTERNAL_CHECKS
        static let compiled = true
    #else
        static let compiled = false
    #endif
}

/// Stops with `message` when `condition` is false, in builds with `HANDOFF_INTERNAL_CHECKS`.
@inline(__always) func internalCheck(
    _ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String, file: StaticString = #file,
    line: UInt = #line
) {
    #if HANDOFF_INTERNAL_CHECKS
        if !condition() { fatalError(message(), file: file, line: line) }
    #endif
}
