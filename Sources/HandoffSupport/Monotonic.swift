import Foundation

/// Monotonic seconds (CLOCK_MONOTONIC), for arrival times that do not jump with the wall clock.
public enum Monotonic {
    @inline(__always) public static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
}
