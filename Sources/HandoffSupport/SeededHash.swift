/// A stateless uniform draw from a key: SplitMix64's finaliser (Steele, Lea, Flood, "Fast
/// splittable pseudorandom number generators", OOPSLA 2014) over a mix of the seed and up to three
/// integers. Policies use it so a plan depends only on (seed, request, position), never on the
/// order in which requests are planned or scheduled. O(1).
package enum SeededHash {
    @inlinable package static func uniform(_ seed: UInt64, _ a: Int, _ b: Int, _ c: UInt64 = 0) -> Double {
        var z =
            seed &+ UInt64(truncatingIfNeeded: a) &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(truncatingIfNeeded: b)
            &* 0xBF58_476D_1CE4_E5B9
        if c != 0 { z = z &+ c &* 0x94D0_49BB_1331_11EB }
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Double(z >> 11) / Double(1 << 53)
    }
}
