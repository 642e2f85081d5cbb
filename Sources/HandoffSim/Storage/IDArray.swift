import HandoffModel

/// An array indexed by a typed ID (`TierID`, `RoleID`, …): a tier's figure cannot be read with a
/// role's number. Free at run time: an `Array` read or modified in place.
struct IDArray<ID: SlabID, Element> {
    var elements: [Element]

    init(_ elements: [Element]) { self.elements = elements }
    init(repeating value: Element, count: Int) { elements = Array(repeating: value, count: count) }

    @inline(__always) subscript(id: ID) -> Element {
        get { elements[id.index] }
        _modify { yield &elements[id.index] }
    }

    @inline(__always) var count: Int { elements.count }
    /// Every ID, in order.
    var ids: Range<ID> { ID(0)..<ID(elements.count) }
    /// The IDs with their elements, in order.
    var enumerated: [(id: ID, element: Element)] { elements.enumerated().map { (ID($0.offset), $0.element) } }
}

extension Scenario {
    /// Tier `t`'s spec.
    @inline(__always) func tier(_ t: TierID) -> TierSpec { tiers[t.index] }
}

extension Segment {
    /// The role the segment runs on, typed.
    @inline(__always) var roleID: RoleID { RoleID(role) }
}

extension RoleID {
    /// The other role of a two-role pair (pipelined mode's partner tier).
    @inline(__always) var partner: RoleID { isOffload ? .entry : RoleID(1) }
}
