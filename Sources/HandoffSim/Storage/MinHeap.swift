/// An element of a binary min-heap kept in an `Array` (a replica's idle heap and finish heap).
protocol HeapKeyed {
    var heapKey: Int { get }
}

extension Array where Element: HeapKeyed {
    /// Sifts `e` into the heap. O(log n).
    mutating func heapPush(_ e: Element) {
        var i = count
        append(e)
        while i > 0 {
            let p = (i - 1) >> 1
            if self[p].heapKey <= e.heapKey { break }
            self[i] = self[p]
            i = p
        }
        self[i] = e
    }

    /// Removes and returns the element with the smallest key (the heap is not empty). O(log n).
    @discardableResult
    mutating func heapPopMin() -> Element {
        let top = self[0]
        let last = removeLast()
        let n = count
        guard n > 0 else { return top }
        var i = 0
        while true {
            var c = 2 * i + 1
            if c >= n { break }
            if c + 1 < n && self[c + 1].heapKey < self[c].heapKey { c += 1 }
            if last.heapKey <= self[c].heapKey { break }
            self[i] = self[c]
            i = c
        }
        self[i] = last
        return top
    }
}
