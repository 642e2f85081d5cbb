import HandoffModel
import HandoffSupport

/// The sliding window behind an adaptive policy's view (`SystemView`): the offloads admitted and
/// the output tokens arrived over the last `window` seconds, with their running sums.
///
/// Entries come in time order (the event clock never goes back), so the window is a queue:
/// `advance` drops the entries older than the window from its front. Dollars are kept in whole
/// nanodollars, so sums taken away are exactly the sums added.
///
/// - Complexity: O(1) amortised per entry.
struct OffloadLedger {
    struct Entry {
        var time: Double
        var offloaded: Int
        var output: Int
        var nanoUSD: Int64
    }

    let window: Double
    private var entries: [Entry] = []
    private var head = 0
    private(set) var offloaded = 0
    private(set) var output = 0
    private var nanoUSD: Int64 = 0

    init(window: Double) { self.window = window }

    var usd: Double { Double(nanoUSD) / 1e9 }

    /// Whole nanodollars, one entry's charge at most 2⁴⁰ (about $1,100: 500 million output tokens
    /// at $2.19 per million), so that absurd prices neither trap the conversion nor overflow the
    /// sum of a window of up to 8 million entries. NaN counts 0.
    static func nanodollars(_ usd: Double) -> Int64 {
        let n = (usd * 1e9).rounded()
        guard n > 0 else { return 0 }
        return n < 0x1p40 ? Int64(n) : 1 << 40
    }

    mutating func add(at time: Double, offloaded: Int = 0, output: Int = 0, usd: Double = 0) {
        let e = Entry(time: time, offloaded: offloaded, output: output, nanoUSD: Self.nanodollars(usd))
        entries.append(e)
        self.offloaded += e.offloaded
        self.output += e.output
        nanoUSD += e.nanoUSD
    }

    /// Drops what happened at or before `now − window`.
    mutating func advance(to now: Double) {
        while head < entries.count, entries[head].time <= now - window {
            offloaded -= entries[head].offloaded
            output -= entries[head].output
            nanoUSD -= entries[head].nanoUSD
            head += 1
        }
        if head > 1024 && head * 2 > entries.count {
            entries.removeFirst(head)
            head = 0
        }
    }
}
