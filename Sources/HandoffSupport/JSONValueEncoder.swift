/// Encodes an `Encodable` value to a `JSONValue`, keeping keys in the order `encode(to:)` writes
/// them (a synthesized conformance writes them in declaration order), so a typed value has one
/// fixed key order. Integers and floating-point numbers become `.number`; an array of numbers
/// becomes `.numbers`, as `JSONParser` reads one; a `JSONValue` inside is kept as it is.
public enum JSONValueEncoder {
    public static func encode<T: Encodable>(_ value: T) throws -> JSONValue {
        let box = Box()
        try box.store(value, codingPath: [])
        return box.value
    }

    /// The value being built, written by the containers as they encode.
    final class Box {
        var value: JSONValue = .null

        func store<T: Encodable>(_ v: T, codingPath: [any CodingKey]) throws {
            if let j = v as? JSONValue {
                value = j
                return
            }
            let e = Node(codingPath: codingPath)
            try v.encode(to: e)
            value = e.result
        }
    }

    /// One node of the tree: an object, an array or a single value, by what is asked of it.
    final class Node: Encoder {
        enum Storage {
            case none
            case single(JSONValue)
            case object([(String, Node)])
            case array([Node])
        }
        var storage = Storage.none
        let codingPath: [any CodingKey]
        var userInfo: [CodingUserInfoKey: Any] { [:] }

        init(codingPath: [any CodingKey]) { self.codingPath = codingPath }

        var result: JSONValue {
            switch storage {
            case .none: return .object([])
            case .single(let v): return v
            case .object(let pairs): return .object(pairs.map { ($0.0, $0.1.result) })
            case .array(let nodes):
                let values = nodes.map(\.result)
                var numbers: [Double] = []
                for v in values {
                    guard case .number(let x) = v else { return .array(values) }
                    numbers.append(x)
                }
                return values.isEmpty ? .array([]) : .numbers(numbers)
            }
        }

        func child(_ key: (any CodingKey)?) -> Node {
            Node(codingPath: codingPath + (key.map { [$0] } ?? []))
        }

        func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
            if case .object = storage {} else { storage = .object([]) }
            return KeyedEncodingContainer(Keyed<Key>(node: self))
        }

        func unkeyedContainer() -> any UnkeyedEncodingContainer {
            if case .array = storage {} else { storage = .array([]) }
            return Unkeyed(node: self)
        }

        func singleValueContainer() -> any SingleValueEncodingContainer { Single(node: self) }

        func append(key: String, _ n: Node) {
            if case .object(var pairs) = storage {
                pairs.append((key, n))
                storage = .object(pairs)
            }
        }

        func append(_ n: Node) {
            if case .array(var nodes) = storage {
                nodes.append(n)
                storage = .array(nodes)
            }
        }

        func set<T: Encodable>(_ v: T) throws {
            switch v {
            case let j as JSONValue: storage = .single(j)
            case let b as Bool: storage = .single(.bool(b))
            case let s as String: storage = .single(.string(s))
            case let x as Double: storage = .single(.number(x))
            case let x as Float: storage = .single(.number(Double(x)))
            case let x as Int: storage = .single(.number(Double(x)))
            case let x as Int32: storage = .single(.number(Double(x)))
            case let x as Int64: storage = .single(.number(Double(x)))
            case let x as UInt64: storage = .single(.number(Double(x)))
            case let x as UInt32: storage = .single(.number(Double(x)))
            default: try v.encode(to: self)
            }
        }
    }

    struct Keyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let node: Node
        var codingPath: [any CodingKey] { node.codingPath }

        func encodeNil(forKey key: Key) throws {
            let n = node.child(key)
            n.storage = .single(.null)
            node.append(key: key.stringValue, n)
        }

        func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
            let n = node.child(key)
            try n.set(value)
            node.append(key: key.stringValue, n)
        }

        func nestedContainer<NestedKey: CodingKey>(
            keyedBy keyType: NestedKey.Type, forKey key: Key
        )
            -> KeyedEncodingContainer<NestedKey>
        {
            let n = node.child(key)
            node.append(key: key.stringValue, n)
            return n.container(keyedBy: keyType)
        }

        func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            let n = node.child(key)
            node.append(key: key.stringValue, n)
            return n.unkeyedContainer()
        }

        func superEncoder() -> any Encoder { node }
        func superEncoder(forKey key: Key) -> any Encoder {
            let n = node.child(key)
            node.append(key: key.stringValue, n)
            return n
        }
    }

    struct Unkeyed: UnkeyedEncodingContainer {
        let node: Node
        var codingPath: [any CodingKey] { node.codingPath }
        var count: Int {
            if case .array(let nodes) = node.storage { return nodes.count }
            return 0
        }

        func encodeNil() throws {
            let n = node.child(nil)
            n.storage = .single(.null)
            node.append(n)
        }

        func encode<T: Encodable>(_ value: T) throws {
            let n = node.child(nil)
            try n.set(value)
            node.append(n)
        }

        func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey>
        {
            let n = node.child(nil)
            node.append(n)
            return n.container(keyedBy: keyType)
        }

        func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
            let n = node.child(nil)
            node.append(n)
            return n.unkeyedContainer()
        }

        func superEncoder() -> any Encoder { node }
    }

    struct Single: SingleValueEncodingContainer {
        let node: Node
        var codingPath: [any CodingKey] { node.codingPath }
        func encodeNil() throws { node.storage = .single(.null) }
        func encode<T: Encodable>(_ value: T) throws { try node.set(value) }
    }
}

/// A string key made at run time (a tier's name, a policy parameter).
struct DynamicKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ s: String) { stringValue = s }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// Pairs keyed by name, in order: a per-tier table of the summary (`memory_gib`, `cost_usd.by_tier`).
/// Encodes as a JSON object in its order; decodes in the order the decoder lists the keys.
public struct OrderedMap<Value: Codable & Sendable>: Codable, Sendable {
    public var pairs: [(String, Value)]
    public init(_ pairs: [(String, Value)]) { self.pairs = pairs }

    public subscript(key: String) -> Value? { pairs.first { $0.0 == key }?.1 }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: DynamicKey.self)
        for (k, v) in pairs { try c.encode(v, forKey: DynamicKey(k)) }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: DynamicKey.self)
        pairs = try c.allKeys.map { ($0.stringValue, try c.decode(Value.self, forKey: $0)) }
    }
}

extension JSONValue: Codable {
    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .null:
            var c = encoder.singleValueContainer()
            try c.encodeNil()
        case .bool(let b):
            var c = encoder.singleValueContainer()
            try c.encode(b)
        case .number(let x):
            var c = encoder.singleValueContainer()
            try c.encode(x)
        case .string(let s):
            var c = encoder.singleValueContainer()
            try c.encode(s)
        case .numbers(let xs):
            var c = encoder.unkeyedContainer()
            for x in xs { try c.encode(x) }
        case .array(let vs):
            var c = encoder.unkeyedContainer()
            for v in vs { try c.encode(v) }
        case .object(let pairs):
            var c = encoder.container(keyedBy: DynamicKey.self)
            for (k, v) in pairs { try c.encode(v, forKey: DynamicKey(k)) }
        }
    }

    public init(from decoder: any Decoder) throws {
        if let c = try? decoder.container(keyedBy: DynamicKey.self) {
            self = .object(try c.allKeys.map { ($0.stringValue, try c.decode(JSONValue.self, forKey: $0)) })
            return
        }
        if var c = try? decoder.unkeyedContainer() {
            var vs: [JSONValue] = []
            while !c.isAtEnd { vs.append(try c.decode(JSONValue.self)) }
            self = .array(vs)
            return
        }
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let x = try? c.decode(Double.self) {
            self = .number(x)
        } else {
            self = .string(try c.decode(String.self))
        }
    }
}
