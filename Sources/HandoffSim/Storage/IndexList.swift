/// A growable list of sequences that keeps its storage between uses: the scratch lists of
/// `HybridSimulator.finishRun`, which runs once per iteration run.
///
/// Locals of type `[Int]` moved in and out of the simulator cost a retain, a release and a
/// uniqueness check each, plus `removeAll(keepingCapacity:)`'s generic path: about 290
/// instructions per run end, 10% of a handoff-storm sweep. A reference to one of these costs none
/// of that, and `removeAll()` only resets the count.
///
/// - Complexity: `append` amortised O(1); `removeAll` O(1); `sort` O(n log n).
final class IndexList: RandomAccessCollection {
    private var base: UnsafeMutablePointer<SequenceID>
    private var capacity: Int
    private(set) var count = 0

    init(capacity: Int = 64) {
        self.capacity = Swift.max(1, capacity)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    var startIndex: Int { 0 }
    var endIndex: Int { count }

    subscript(i: Int) -> SequenceID {
        assert(i >= 0 && i < count, "IndexList index \(i) out of 0..<\(count)")
        return base[i]
    }

    @inline(__always) func append(_ x: SequenceID) {
        if count == capacity { grow() }
        base[count] = x
        count += 1
    }

    /// Empties the list; its storage stays for the next use.
    @inline(__always) func removeAll() { count = 0 }

    func sort(by less: (SequenceID, SequenceID) -> Bool) {
        var all = UnsafeMutableBufferPointer(start: base, count: count)
        all.sort(by: less)
    }

    private func grow() {
        let bigger = UnsafeMutablePointer<SequenceID>.allocate(capacity: capacity * 2)
        bigger.moveInitialize(from: base, count: count)
        base.deallocate()
        base = bigger
        capacity *= 2
    }
}
