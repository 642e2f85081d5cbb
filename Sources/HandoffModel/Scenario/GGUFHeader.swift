import Foundation
import HandoffSupport

/// A model's shape read from a GGUF file's header (the format llama.cpp loads), so a scenario
/// of a local model needs no hand-typed shape: `models.<key>.gguf: PATH`.
///
/// Format (GGUF v2/v3, github.com/ggml-org/ggml docs/gguf.md), little-endian: magic `GGUF`,
/// version u32, tensor count u64, metadata count u64; each metadata entry a string key, a u32
/// type and a value; each tensor info a name, u32 dims, u64 extents, u32 ggml type, u64 offset;
/// then the tensor data, aligned to `general.alignment` (32 by default).
///
/// What a `ModelSpec` gets from it:
/// - layers, heads, KV heads, hidden: `<arch>.block_count`, `.attention.head_count`,
///   `.attention.head_count_kv` (default: the head count), `.embedding_length`; head dim
///   `.attention.key_length`, or hidden / heads;
/// - parameters: Σ of the tensors' elements, less `token_embd` when the file also has an
///   `output` matrix (a lookup costs no FLOPs; a tied embedding is the output matmul too). On
///   Qwen2.5-Coder-0.5B's Q4_K_M file: 630,167,424 elements, 494,032,768 parameters;
/// - weight bytes: the tensor data's bytes (file size less the aligned header) per parameter,
///   so `params_b · weight_bytes` is the memory the weights take;
/// - a mixture of experts (`.expert_count` E, `.expert_used_count` k, stacked `*_exps` tensors):
///   active parameters count k/E of the routed experts' elements.
///
/// Only the header is read (the file is mapped; its pages past the header are never touched).
public struct GGUFHeader: Sendable, Equatable {
    public var version: UInt32
    public var architecture: String
    public var name: String?
    /// Metadata integers by key (every integer type widened).
    public var integers: [String: Int]
    public var tensorElements: Int
    public var embeddingElements: Int
    public var hasOutputMatrix: Bool
    public var dataBytes: Int
    /// Elements of the routed experts' stacked tensors (`*_exps`), E experts each.
    public var expertElements = 0

    /// Parameters that take part in the FLOPs of a token.
    public var computeParameters: Int { hasOutputMatrix ? tensorElements - embeddingElements : tensorElements }

    /// The shape of the model, KV cache at `kvBytes` per element (llama-server's default f16: 2).
    /// Errors name the missing metadata key.
    public func modelSpec(path: String, kvBytes: Double = 2) throws -> ModelSpec {
        func need(_ suffix: String) throws -> Int {
            guard let v = integers[architecture + "." + suffix], v >= 1 else {
                throw HandoffError.input(
                    "the GGUF header has no '\(architecture).\(suffix)' (architecture '\(architecture)'); give the shape by hand (layers, attention_heads, kv_heads, head_dim, hidden, params_b)",
                    file: path)
            }
            return v
        }
        let layers = try need("block_count")
        let hidden = try need("embedding_length")
        let heads = try need("attention.head_count")
        let kv = integers[architecture + ".attention.head_count_kv"] ?? heads
        let headDim = integers[architecture + ".attention.key_length"] ?? hidden / heads
        let params = computeParameters
        guard params > 0 else { throw HandoffError.input("the GGUF file has no tensors", file: path) }
        var m = ModelSpec(
            name: name ?? architecture, paramsB: Double(params) / 1e9, layers: layers, attentionHeads: heads,
            kvHeads: kv,
            headDim: headDim, hidden: hidden, weightBytes: Double(dataBytes) / Double(params), kvBytes: kvBytes)
        // A mixture of experts: a token runs through k of the E routed experts.
        if expertElements > 0, let e = integers[architecture + ".expert_count"],
            let k = integers[architecture + ".expert_used_count"], e > 0, k <= e
        {
            m.activeParamsB = (Double(params - expertElements) + Double(expertElements) * Double(k) / Double(e)) / 1e9
            m.routedExpertParamsB = Double(expertElements) / 1e9
            m.experts = e
            m.expertsPerToken = k
        }
        return m
    }

    /// Reads the header of the GGUF file at `path`.
    public static func read(path: String) throws -> GGUFHeader {
        let file = try MappedFile(path: path)
        var c = Cursor(base: file.base, size: file.size, path: path)
        guard c.size >= 24, try c.u32() == 0x4655_4747 else {
            throw HandoffError.input("not a GGUF file (no 'GGUF' magic at offset 0)", file: path)
        }
        let version = try c.u32()
        guard version == 2 || version == 3 else {
            throw HandoffError.input("GGUF version \(version); Handoff reads versions 2 and 3", file: path)
        }
        let tensors = try c.count("tensor count")
        let entries = try c.count("metadata count")
        var ints: [String: Int] = [:]
        var strings: [String: String] = [:]
        for _ in 0..<entries {
            let key = try c.string()
            let type = try c.u32()
            switch type {
            case 8: strings[key] = try c.string()
            case 9: try c.skipArray(key: key)
            default:
                if let v = try c.integer(type: type, key: key) { ints[key] = v }
            }
        }
        guard let arch = strings["general.architecture"] else {
            throw HandoffError.input("the GGUF header has no 'general.architecture'", file: path)
        }
        var elements = 0
        var embedding = 0
        var output = false
        var experts = 0
        for _ in 0..<tensors {
            let name = try c.string()
            let dims = try c.u32()
            guard dims <= 8 else { throw c.error("a tensor of \(dims) dimensions") }
            var n = 1
            for _ in 0..<dims {
                let (p, o) = n.multipliedReportingOverflow(by: try c.count("tensor extent"))
                guard !o else { throw c.error("a tensor too large to count") }
                n = p
            }
            _ = try c.u32()
            _ = try c.u64()
            elements += n
            if name == "token_embd.weight" { embedding = n }
            if name == "output.weight" { output = true }
            if name.hasSuffix("_exps.weight") { experts += n }
        }
        let align = max(1, ints["general.alignment"] ?? 32)
        let dataStart = (c.offset + align - 1) / align * align
        guard dataStart <= file.size else { throw c.error("a header that runs past the end of the file") }
        return GGUFHeader(
            version: version, architecture: arch, name: strings["general.name"], integers: ints,
            tensorElements: elements,
            embeddingElements: embedding, hasOutputMatrix: output, dataBytes: file.size - dataStart,
            expertElements: experts)
    }

    /// A bounds-checked little-endian reader over the mapped header.
    struct Cursor {
        let base: UnsafeRawPointer
        let size: Int
        let path: String
        var offset = 0

        func error(_ what: String) -> HandoffError {
            HandoffError.input("malformed GGUF header: \(what) at byte \(offset)", file: path)
        }

        mutating func take(_ n: Int) throws -> UnsafeRawPointer {
            guard n >= 0, n <= size - offset else { throw error("a field that runs past the end of the file") }
            defer { offset += n }
            return base + offset
        }

        mutating func u32() throws -> UInt32 { UInt32(littleEndian: try take(4).loadUnaligned(as: UInt32.self)) }
        mutating func u64() throws -> UInt64 { UInt64(littleEndian: try take(8).loadUnaligned(as: UInt64.self)) }

        /// A u64 count that fits an Int and the file (each counted item takes at least a byte).
        mutating func count(_ what: String) throws -> Int {
            let v = try u64()
            guard v <= UInt64(Int.max) else { throw error("\(what) \(v)") }
            return Int(v)
        }

        mutating func string() throws -> String {
            let n = try count("string length")
            return String(decoding: UnsafeRawBufferPointer(start: try take(n), count: n), as: UTF8.self)
        }

        static func width(_ type: UInt32) -> Int? {
            switch type {
            case 0, 1, 7: return 1
            case 2, 3: return 2
            case 4, 5, 6: return 4
            case 10, 11, 12: return 8
            default: return nil
            }
        }

        /// An integer-typed value, widened (nil for floats and booleans, which are skipped).
        mutating func integer(type: UInt32, key: String) throws -> Int? {
            guard let w = Self.width(type) else { throw error("metadata '\(key)' of unknown type \(type)") }
            let p = try take(w)
            switch type {
            case 0: return Int(p.load(as: UInt8.self))
            case 1: return Int(p.load(as: Int8.self))
            case 2: return Int(UInt16(littleEndian: p.loadUnaligned(as: UInt16.self)))
            case 3: return Int(Int16(littleEndian: p.loadUnaligned(as: Int16.self)))
            case 4: return Int(UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)))
            case 5: return Int(Int32(littleEndian: p.loadUnaligned(as: Int32.self)))
            case 10: return Int(exactly: UInt64(littleEndian: p.loadUnaligned(as: UInt64.self)))
            case 11: return Int(Int64(littleEndian: p.loadUnaligned(as: Int64.self)))
            default: return nil
            }
        }

        /// Skips an array value: element type, count, elements (nested arrays included).
        mutating func skipArray(key: String) throws {
            let type = try u32()
            let n = try count("array length in '\(key)'")
            switch type {
            case 8: for _ in 0..<n { _ = try take(try count("string length in '\(key)'")) }
            case 9: for _ in 0..<n { try skipArray(key: key) }
            default:
                guard let w = Self.width(type) else { throw error("metadata '\(key)' of unknown type \(type)") }
                let (bytes, o) = n.multipliedReportingOverflow(by: w)
                guard !o else { throw error("array '\(key)' too long") }
                _ = try take(bytes)
            }
        }
    }
}
