/// Fixed-capacity storage for the simulator's per-request and per-sequence state, indexed by a
/// typed `SlabID`: a buffer allocated once, whose elements are read and written in place.
///
/// An `Array` stored in a class checks that its buffer is uniquely referenced (a runtime call) on
/// every element write, and the simulator writes a field of a sequence or request on nearly every
/// step: those checks were 9–14% of all instructions in `handoff bench scaling`. A `Slab` never
/// shares its buffer, so its writes need no check (an element's own arrays, as in `Replica`, still
/// check theirs).
///
/// - Complexity: every operation O(1).
final class Slab<ID: SlabID, Element>: RandomAccessCollection {
    typealias Index = ID

    private let base: UnsafeMutablePointer<Element>
    let capacity: Int
    private(set) var count = 0

    init(capacity: Int) {
        self.capacity = capacity
        base = .allocate(capacity: Swift.max(1, capacity))
    }

    deinit {
        base.deinitialize(count: count)
        base.deallocate()
    }

    /// Adds `e` after the last element. The capacity is fixed at creation.
    func append(_ e: Element) {
        precondition(count < capacity, "Slab capacity \(capacity) exceeded")
        (base + count).initialize(to: e)
        count += 1
    }

    /// The elements, for a value type's methods to use without retaining the slab.
    @inline(__always) var view: SlabView<ID, Element> { SlabView(base: base, count: count) }

    var startIndex: ID { ID(0) }
    var endIndex: ID { ID(count) }

    /// The element at `i` (checked in debug builds only, like the rest of the simulator under
    /// `-Ounchecked`).
    subscript(id: ID) -> Element {
        unsafeAddress {
            assert(id.index >= 0 && id.index < count, "Slab index \(id) out of 0..<\(count)")
            return UnsafePointer(base + id.index)
        }
        unsafeMutableAddress {
            assert(id.index >= 0 && id.index < count, "Slab index \(id) out of 0..<\(count)")
            return base + id.index
        }
    }
}

/// A slab's elements without its ownership: what a value type's methods take to read and write
/// them (`Replica+Sets.swift`). Passing the slab itself would retain and release it on every call
/// the optimiser does not inline (+4% instructions in the guard run); the simulator keeps the
/// slab alive for as long as any view is used.
struct SlabView<ID: SlabID, Element> {
    let base: UnsafeMutablePointer<Element>
    let count: Int

    subscript(id: ID) -> Element {
        unsafeAddress {
            assert(id.index >= 0 && id.index < count, "Slab index \(id) out of 0..<\(count)")
            return UnsafePointer(base + id.index)
        }
        nonmutating unsafeMutableAddress {
            assert(id.index >= 0 && id.index < count, "Slab index \(id) out of 0..<\(count)")
            return base + id.index
        }
    }
}
