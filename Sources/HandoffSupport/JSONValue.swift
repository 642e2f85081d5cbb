import Foundation

/// A parsed JSON value. Objects keep their keys in document order, and arrays made only of
/// numbers are kept unboxed (`numbers`) because traces are mostly long arrays of difficulties.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case numbers([Double])
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.number(let x), .number(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.numbers(let x), .numbers(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    public subscript(key: String) -> JSONValue? {
        if case .object(let pairs) = self { return pairs.first(where: { $0.0 == key })?.1 }
        return nil
    }

    /// A short name of the value's type, for error messages.
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .numbers, .array: return "an array"
        case .object: return "an object"
        }
    }
}

/// Parses JSON text from UTF-8 bytes. O(n); numbers via a decimal fast path, `strtod` otherwise.
public struct JSONParser {
    public struct SyntaxError: Error {
        public var offset: Int
        public var message: String
    }

    let p: UnsafeBufferPointer<UInt8>
    var i = 0

    /// Parses one complete JSON document (surrounding whitespace allowed).
    public static func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws(SyntaxError) -> JSONValue {
        var parser = JSONParser(p: bytes)
        parser.skipSpace()
        let v = try parser.value(depth: 0)
        parser.skipSpace()
        if parser.i != bytes.count {
            throw SyntaxError(offset: parser.i, message: "unexpected text after the JSON value")
        }
        return v
    }

    public static func parse(_ text: String) throws(SyntaxError) -> JSONValue {
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBufferPointer { (b) throws(SyntaxError) -> JSONValue in try parse(b) }
    }

    mutating func skipSpace() {
        while i < p.count, p[i] == 0x20 || p[i] == 0x0A || p[i] == 0x0D || p[i] == 0x09 { i += 1 }
    }

    mutating func value(depth: Int) throws(SyntaxError) -> JSONValue {
        guard depth < 512 else { throw SyntaxError(offset: i, message: "nesting too deep") }
        guard i < p.count else { throw SyntaxError(offset: i, message: "unexpected end of input, expected a value") }
        switch p[i] {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default:
            throw SyntaxError(
                offset: i, message: "unexpected character '\(Character(UnicodeScalar(p[i])))', expected a value")
        }
    }

    mutating func literal(_ word: StaticString) throws(SyntaxError) {
        let n = word.utf8CodeUnitCount
        let w = UnsafeBufferPointer(start: word.utf8Start, count: n)
        guard i + n <= p.count, (0..<n).allSatisfy({ p[i + $0] == w[$0] }) else {
            throw SyntaxError(offset: i, message: "invalid literal, expected '\(word)'")
        }
        i += n
    }

    mutating func object(depth: Int) throws(SyntaxError) -> JSONValue {
        i += 1
        var pairs: [(String, JSONValue)] = []
        skipSpace()
        if i < p.count, p[i] == UInt8(ascii: "}") {
            i += 1
            return .object(pairs)
        }
        while true {
            skipSpace()
            guard i < p.count, p[i] == UInt8(ascii: "\"") else {
                throw SyntaxError(offset: i, message: "expected a quoted key")
            }
            let k = try string()
            skipSpace()
            guard i < p.count, p[i] == UInt8(ascii: ":") else {
                throw SyntaxError(offset: i, message: "expected ':' after key \"\(k)\"")
            }
            i += 1
            skipSpace()
            pairs.append((k, try value(depth: depth + 1)))
            skipSpace()
            guard i < p.count else { throw SyntaxError(offset: i, message: "unexpected end of input inside an object") }
            if p[i] == UInt8(ascii: ",") {
                i += 1
                continue
            }
            if p[i] == UInt8(ascii: "}") {
                i += 1
                return .object(pairs)
            }
            throw SyntaxError(offset: i, message: "expected ',' or '}'")
        }
    }

    mutating func array(depth: Int) throws(SyntaxError) -> JSONValue {
        i += 1
        skipSpace()
        if i < p.count, p[i] == UInt8(ascii: "]") {
            i += 1
            return .numbers([])
        }
        // Fast path: an array of numbers only.
        var nums: [Double] = []
        while i < p.count, p[i] == UInt8(ascii: "-") || (p[i] >= 0x30 && p[i] <= 0x39) {
            nums.append(try number())
            skipSpace()
            guard i < p.count else { throw SyntaxError(offset: i, message: "unexpected end of input inside an array") }
            if p[i] == UInt8(ascii: "]") {
                i += 1
                return .numbers(nums)
            }
            guard p[i] == UInt8(ascii: ",") else { throw SyntaxError(offset: i, message: "expected ',' or ']'") }
            i += 1
            skipSpace()
        }
        var items: [JSONValue] = nums.map { .number($0) }
        while true {
            skipSpace()
            items.append(try value(depth: depth + 1))
            skipSpace()
            guard i < p.count else { throw SyntaxError(offset: i, message: "unexpected end of input inside an array") }
            if p[i] == UInt8(ascii: ",") {
                i += 1
                continue
            }
            if p[i] == UInt8(ascii: "]") {
                i += 1
                return .array(items)
            }
            throw SyntaxError(offset: i, message: "expected ',' or ']'")
        }
    }

    mutating func string() throws(SyntaxError) -> String {
        i += 1
        let start = i
        // Fast path: no escapes.
        while i < p.count, p[i] != UInt8(ascii: "\""), p[i] != UInt8(ascii: "\\"), p[i] >= 0x20 { i += 1 }
        if i < p.count, p[i] == UInt8(ascii: "\"") {
            let s = String(decoding: UnsafeBufferPointer(rebasing: p[start..<i]), as: UTF8.self)
            i += 1
            return s
        }
        var bytes = Array(p[start..<i])
        while true {
            guard i < p.count else { throw SyntaxError(offset: i, message: "unterminated string") }
            let c = p[i]
            if c == UInt8(ascii: "\"") {
                i += 1
                break
            }
            if c < 0x20 { throw SyntaxError(offset: i, message: "control character in string") }
            if c != UInt8(ascii: "\\") {
                bytes.append(c)
                i += 1
                continue
            }
            i += 1
            guard i < p.count else { throw SyntaxError(offset: i, message: "unterminated escape") }
            let e = p[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""): bytes.append(0x22)
            case UInt8(ascii: "\\"): bytes.append(0x5C)
            case UInt8(ascii: "/"): bytes.append(0x2F)
            case UInt8(ascii: "b"): bytes.append(0x08)
            case UInt8(ascii: "f"): bytes.append(0x0C)
            case UInt8(ascii: "n"): bytes.append(0x0A)
            case UInt8(ascii: "r"): bytes.append(0x0D)
            case UInt8(ascii: "t"): bytes.append(0x09)
            case UInt8(ascii: "u"):
                var code = try hex4()
                if (0xD800..<0xDC00).contains(code), i + 6 <= p.count, p[i] == UInt8(ascii: "\\"),
                    p[i + 1] == UInt8(ascii: "u")
                {
                    let back = i
                    i += 2
                    let low = try hex4()
                    if (0xDC00..<0xE000).contains(low) {
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else {
                        // An unpaired high surrogate (fuzzer: "\udB0a\udB0a" underflowed): U+FFFD, and
                        // the next escape is read on its own.
                        i = back
                    }
                }
                let scalar = UnicodeScalar(code) ?? "\u{FFFD}"
                bytes.append(contentsOf: Array(String(Character(scalar)).utf8))
            default: throw SyntaxError(offset: i - 1, message: "invalid escape")
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    mutating func hex4() throws(SyntaxError) -> UInt32 {
        guard i + 4 <= p.count else { throw SyntaxError(offset: i, message: "short \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = p[i]
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw SyntaxError(offset: i, message: "invalid hex digit in \\u escape")
            }
            v = v * 16 + d
            i += 1
        }
        return v
    }

    static let pow10: [Double] = (0...22).map { Double("1e\($0)")! }

    mutating func number() throws(SyntaxError) -> Double {
        let start = i
        var neg = false
        if p[i] == UInt8(ascii: "-") {
            neg = true
            i += 1
        }
        var mant: UInt64 = 0
        var digits = 0
        var intDigits = 0
        while i < p.count, p[i] >= 0x30, p[i] <= 0x39 {
            mant = mant &* 10 &+ UInt64(p[i] - 0x30)
            digits += 1
            intDigits += 1
            i += 1
        }
        guard intDigits > 0 else { throw SyntaxError(offset: i, message: "invalid number") }
        var frac = 0
        if i < p.count, p[i] == UInt8(ascii: ".") {
            i += 1
            while i < p.count, p[i] >= 0x30, p[i] <= 0x39 {
                mant = mant &* 10 &+ UInt64(p[i] - 0x30)
                digits += 1
                frac += 1
                i += 1
            }
            guard frac > 0 else { throw SyntaxError(offset: i, message: "invalid number: digits expected after '.'") }
        }
        var hasExp = false
        if i < p.count, p[i] == UInt8(ascii: "e") || p[i] == UInt8(ascii: "E") {
            hasExp = true
            i += 1
            if i < p.count, p[i] == UInt8(ascii: "+") || p[i] == UInt8(ascii: "-") { i += 1 }
            var expDigits = 0
            while i < p.count, p[i] >= 0x30, p[i] <= 0x39 {
                i += 1
                expDigits += 1
            }
            guard expDigits > 0 else {
                throw SyntaxError(offset: i, message: "invalid number: digits expected in exponent")
            }
        }
        if !hasExp && digits <= 15 {
            // Exact: mantissa < 2^53 and 10^frac ≤ 10^22, one correctly rounded division.
            let v = Double(mant) / JSONParser.pow10[frac]
            return neg ? -v : v
        }
        var buf = [CChar](repeating: 0, count: i - start + 1)
        for k in start..<i { buf[k - start] = CChar(bitPattern: p[k]) }
        return strtod(buf, nil)
    }
}

/// Writes JSON deterministically: keys in the order given, numbers in Swift's shortest
/// round-trip form, non-finite numbers as null.
public enum JSONWriter {
    public static func write(_ v: JSONValue, pretty: Bool = false) -> String {
        var out = ""
        emit(v, into: &out, pretty: pretty, indent: 0)
        return out
    }

    public static func number(_ x: Double) -> String {
        guard x.isFinite else { return "null" }
        if x == x.rounded(), abs(x) < 1e15 { return String(Int64(x)) }
        return String(x)
    }

    public static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }

    static func emit(_ v: JSONValue, into out: inout String, pretty: Bool, indent: Int) {
        let nl = pretty ? "\n" + String(repeating: "  ", count: indent + 1) : ""
        let close = pretty ? "\n" + String(repeating: "  ", count: indent) : ""
        switch v {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let x): out += number(x)
        case .string(let s): out += quote(s)
        case .numbers(let xs):
            out += "["
            for (k, x) in xs.enumerated() {
                if k > 0 { out += pretty ? ", " : "," }
                out += number(x)
            }
            out += "]"
        case .array(let items):
            if items.isEmpty {
                out += "[]"
                return
            }
            out += "["
            for (k, x) in items.enumerated() {
                if k > 0 { out += "," }
                out += nl
                emit(x, into: &out, pretty: pretty, indent: indent + 1)
            }
            out += close + "]"
        case .object(let pairs):
            if pairs.isEmpty {
                out += "{}"
                return
            }
            out += "{"
            for (k, (key, x)) in pairs.enumerated() {
                if k > 0 { out += "," }
                out += nl + quote(key) + (pretty ? ": " : ":")
                emit(x, into: &out, pretty: pretty, indent: indent + 1)
            }
            out += close + "}"
        }
    }
}
