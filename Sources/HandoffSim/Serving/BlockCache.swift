import HandoffModel
import HandoffSupport

/// A replica's cache of prompt blocks shared across requests: vLLM's automatic prefix caching
/// (`--enable-prefix-caching`) at the granularity of a trace's block ids (Mooncake's `hash_ids`:
/// one id per 512-token prompt block, chained so that an id names its whole prefix).
///
/// A block is resident while a sequence references it (`refs` > 0) or, unreferenced, while it
/// stays cached: those sit in an LRU list and are the first KV evicted under pressure. Memory, as
/// the replica's `kvUsed` counts it: every sequence counts its whole context in its own KV, so a
/// block referenced by k sequences is counted k times there; `sharedTokens` (Σ (refs − 1)·B) takes
/// the copies back off, and `cachedTokens` (unreferenced blocks · B) adds the cache. Hence
///
///     kvUsed = Σ sequence KV + Σ reservations + cachedTokens − sharedTokens
///
/// which `HybridSimulator+Invariants.swift` checks. Each operation returns its change to `kvUsed`
/// beyond the sequence's own KV change, which the caller makes.
struct BlockCache {
    let blockTokens: Int
    private var slotOf: [Int: Int32] = [:]
    private var ids: [Int] = []
    private var refs: [Int32] = []
    private var prev: [Int32] = []
    private var next: [Int32] = []
    private var freeSlots: [Int32] = []
    /// The LRU list of unreferenced blocks: head least recently released.
    private var head: Int32 = -1
    private var tail: Int32 = -1
    private(set) var cachedTokens = 0
    private(set) var sharedTokens = 0
    // Statistics: prompt tokens looked up on first admission, and those found cached.
    var lookedUpTokens = 0
    var hitTokens = 0
    var evictedBlocks = 0

    init(blockTokens: Int) { self.blockTokens = blockTokens }

    /// Resident blocks, referenced or cached.
    var residentBlocks: Int { slotOf.count }
    var hasCached: Bool { head >= 0 }

    /// How many leading blocks of `blocks` are resident. O(matched).
    func matched(_ blocks: ArraySlice<Int>) -> Int {
        var n = 0
        for id in blocks {
            guard slotOf[id] != nil else { break }
            n += 1
        }
        return n
    }

    /// A sequence references `id`. Returns −B when the block was resident (a cached block leaves
    /// the LRU list; a referenced one gains a sharer), 0 when the block is new (the sequence
    /// computed it: its KV already counts it). O(1).
    mutating func acquire(_ id: Int) -> Int {
        if let s = slotOf[id] {
            let k = Int(s)
            if refs[k] == 0 {
                unlink(s)
                cachedTokens -= blockTokens
            } else {
                sharedTokens += blockTokens
            }
            refs[k] += 1
            return -blockTokens
        }
        let s: Int32
        if let f = freeSlots.popLast() {
            s = f
            ids[Int(s)] = id
            refs[Int(s)] = 1
            prev[Int(s)] = -1
            next[Int(s)] = -1
        } else {
            s = Int32(ids.count)
            ids.append(id)
            refs.append(1)
            prev.append(-1)
            next.append(-1)
        }
        slotOf[id] = s
        return 0
    }

    /// A sequence stops referencing `id`. A block others still reference keeps its memory (+B:
    /// the caller takes it off with the sequence's KV); the last reference leaves it cached
    /// (`keep`, +B, most recently used) or frees it (0). O(1).
    mutating func release(_ id: Int, keep: Bool) -> Int {
        guard let s = slotOf[id] else { return 0 }
        let k = Int(s)
        refs[k] -= 1
        if refs[k] > 0 {
            sharedTokens -= blockTokens
            return blockTokens
        }
        if keep {
            linkAtTail(s)
            cachedTokens += blockTokens
            return blockTokens
        }
        remove(s)
        return 0
    }

    /// Frees the least recently released cached block. Returns the change to `kvUsed` (−B), or 0
    /// when nothing is cached. O(1).
    mutating func evictOne() -> Int {
        guard head >= 0 else { return 0 }
        let s = head
        unlink(s)
        remove(s)
        cachedTokens -= blockTokens
        evictedBlocks += 1
        return -blockTokens
    }

    /// Checks the lists and counters against the blocks (for `checkInvariants`). O(blocks).
    func check() {
        var cached = 0
        var shared = 0
        for (id, s) in slotOf {
            let k = Int(s)
            internalCheck(
                ids[k] == id && refs[k] >= 0, "block \(id): slot \(k) holds \(ids[k]) with \(refs[k]) references")
            if refs[k] == 0 { cached += blockTokens } else { shared += Int(refs[k] - 1) * blockTokens }
        }
        var listed = 0
        var s = head
        var last: Int32 = -1
        while s >= 0 {
            internalCheck(
                refs[Int(s)] == 0 && prev[Int(s)] == last, "the LRU list holds a referenced or mislinked block")
            listed += blockTokens
            last = s
            s = next[Int(s)]
        }
        internalCheck(last == tail, "the LRU list's tail is not its last block")
        internalCheck(
            cached == cachedTokens && listed == cachedTokens,
            "cached tokens \(cachedTokens) ≠ \(cached) (listed \(listed))")
        internalCheck(shared == sharedTokens, "shared tokens \(sharedTokens) ≠ \(shared)")
    }

    private mutating func remove(_ s: Int32) {
        slotOf[ids[Int(s)]] = nil
        freeSlots.append(s)
    }

    private mutating func linkAtTail(_ s: Int32) {
        prev[Int(s)] = tail
        next[Int(s)] = -1
        if tail >= 0 { next[Int(tail)] = s } else { head = s }
        tail = s
    }

    private mutating func unlink(_ s: Int32) {
        let p = prev[Int(s)]
        let n = next[Int(s)]
        if p >= 0 { next[Int(p)] = n } else { head = n }
        if n >= 0 { prev[Int(n)] = p } else { tail = p }
        prev[Int(s)] = -1
        next[Int(s)] = -1
    }
}
