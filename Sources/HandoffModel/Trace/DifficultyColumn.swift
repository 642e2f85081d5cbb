import Foundation
import HandoffSupport

/// Per-token difficulties of every request of a trace, concatenated: one value in [0, 1] per
/// generated token (1 = hardest).
///
/// Stored as the columnar file stores it — `u1` (q/255), `f2` (IEEE half) or `f4` — either in
/// owned memory or memory-mapped straight from a `.npy` file, so a 10⁹-token trace costs 1–4 GB of
/// page cache, not of heap. Reads are O(1); scans are tight loops per storage type.
public final class DifficultyColumn: @unchecked Sendable {
    public enum DType: String, Sendable, CaseIterable {
        case u1, f2, f4

        public var bytes: Int { self == .u1 ? 1 : self == .f2 ? 2 : 4 }
        /// NumPy's `descr` for this type.
        public var npyDescr: String { self == .u1 ? "|u1" : self == .f2 ? "<f2" : "<f4" }
    }

    public let dtype: DType
    public let count: Int
    let base: UnsafeRawPointer
    let owner: AnyObject?
    let owned: UnsafeMutableRawPointer?

    /// Owned single-precision storage.
    public init(_ values: [Float]) {
        dtype = .f4
        count = values.count
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(1, values.count * 4), alignment: 16)
        values.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        owned = p
        base = UnsafeRawPointer(p)
        owner = nil
    }

    /// A view of memory owned by `owner` (e.g. a `MappedFile`).
    public init(base: UnsafeRawPointer, count: Int, dtype: DType, owner: AnyObject) {
        self.base = base
        self.count = count
        self.dtype = dtype
        self.owner = owner
        owned = nil
    }

    deinit { owned?.deallocate() }

    @inline(__always) public subscript(i: Int) -> Float {
        switch dtype {
        case .u1: return Float(base.load(fromByteOffset: i, as: UInt8.self)) * (1 / 255)
        case .f2: return Float(base.loadUnaligned(fromByteOffset: 2 * i, as: Float16.self))
        case .f4: return base.loadUnaligned(fromByteOffset: 4 * i, as: Float.self)
        }
    }

    /// The values in `range` as floats (copies).
    public func values(_ range: Range<Int>) -> [Float] { range.map { self[$0] } }

    /// First index in `range` whose difficulty is above `threshold`, or nil. O(length). The planner's
    /// hot loop; HandoffModel keeps overflow checks, so the counter (below `range.upperBound`, never
    /// at Int.max) steps with `&+=`, which lets the loop vectorise.
    public func firstIndex(in range: Range<Int>, above threshold: Float) -> Int? {
        switch dtype {
        case .u1:
            // q/255 > t  ⇔  q > ⌊255·t⌋ for integer q (checked in float to match `subscript`).
            let p = base.assumingMemoryBound(to: UInt8.self)
            var i = range.lowerBound
            while i < range.upperBound {
                if Float(p[i]) * (1 / 255) > threshold { return i }
                i &+= 1
            }
        case .f2:
            var i = range.lowerBound
            while i < range.upperBound {
                if self[i] > threshold { return i }
                i &+= 1
            }
        case .f4:
            let p = base.assumingMemoryBound(to: Float.self)
            var i = range.lowerBound
            while i < range.upperBound {
                if p[i] > threshold { return i }
                i &+= 1
            }
        }
        return nil
    }

    /// First index in `range` whose difficulty is at or below `threshold`, or nil. O(length).
    public func firstIndex(in range: Range<Int>, atOrBelow threshold: Float) -> Int? {
        var i = range.lowerBound
        if dtype == .f4 {
            let p = base.assumingMemoryBound(to: Float.self)
            while i < range.upperBound {
                if p[i] <= threshold { return i }
                i &+= 1
            }
            return nil
        }
        while i < range.upperBound {
            if self[i] <= threshold { return i }
            i &+= 1
        }
        return nil
    }

    /// Σ dᵞ over `range`. O(length).
    public func powerSum(_ range: Range<Int>, exponent: Double) -> Double {
        var s = 0.0
        if exponent == 1 {
            for i in range { s += Double(self[i]) }
        } else if exponent == 2 {
            for i in range {
                let d = Double(self[i])
                s += d * d
            }
        } else {
            for i in range { s += pow(Double(self[i]), exponent) }
        }
        return s
    }

    /// The raw bytes as they would be written to a `.npy` file of the same dtype.
    public var rawBytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count * dtype.bytes) }
}
