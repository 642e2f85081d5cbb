import Foundation
import XCTest

@testable import HandoffAnalysis
@testable import HandoffEngine
@testable import HandoffModel
@testable import HandoffSim
@testable import HandoffSupport

/// `GGUFHeader` on hand-built files: counts, the tied-embedding rule and its errors.
final class GGUFTests: XCTestCase {
    /// A GGUF v3 file: llama, 2 layers, hidden 8, 2 heads, 1 KV head; a string array and a float
    /// among the metadata; tensors token_embd 8×16, output 8×16 (when `output`), blk.0.attn_q 8×8;
    /// then `data` bytes of tensor data after 32-byte alignment.
    func file(output: Bool = true, blockCount: Bool = true, data: Int = 100) -> [UInt8] {
        var b: [UInt8] = []
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
        func str(_ s: String) {
            u64(UInt64(s.utf8.count))
            b += Array(s.utf8)
        }
        b += Array("GGUF".utf8)
        u32(3)
        u64(output ? 3 : 2)
        var meta: [() -> Void] = [
            {
                str("general.architecture")
                u32(8)
                str("llama")
            },
            {
                str("llama.embedding_length")
                u32(4)
                u32(8)
            },
            {
                str("llama.attention.head_count")
                u32(5)
                u32(2)
            },
            {
                str("llama.attention.head_count_kv")
                u32(10)
                u64(1)
            },
            {
                str("llama.rope.freq_base")
                u32(6)
                u32(Float(10000).bitPattern)
            },
            {
                str("tokenizer.ggml.tokens")
                u32(9)
                u32(8)
                u64(2)
                str("a")
                str("bc")
            }
        ]
        if blockCount {
            meta.append({
                str("llama.block_count")
                u32(4)
                u32(2)
            })
        }
        u64(UInt64(meta.count))
        for m in meta { m() }
        func tensor(_ name: String, _ dims: [UInt64]) {
            str(name)
            u32(UInt32(dims.count))
            for d in dims { u64(d) }
            u32(0)
            u64(0)
        }
        tensor("token_embd.weight", [8, 16])
        if output { tensor("output.weight", [8, 16]) }
        tensor("blk.0.attn_q.weight", [8, 8])
        while b.count % 32 != 0 { b.append(0) }
        return b + [UInt8](repeating: 7, count: data)
    }

    func write(_ bytes: [UInt8]) throws -> String {
        let path = tempDir() + "/m.gguf"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func testHeaderByHand() throws {
        let path = try write(file())
        let h = try GGUFHeader.read(path: path)
        XCTAssertEqual(h.architecture, "llama")
        XCTAssertEqual(h.tensorElements, 128 + 128 + 64)
        // An output matrix of its own: the embedding lookup costs no FLOPs.
        XCTAssertEqual(h.computeParameters, 128 + 64)
        XCTAssertEqual(h.dataBytes, 100)
        let m = try h.modelSpec(path: path)
        XCTAssertEqual([m.layers, m.attentionHeads, m.kvHeads, m.headDim, m.hidden], [2, 2, 1, 4, 8])
        XCTAssertEqual(m.paramsB, 192e-9, accuracy: 1e-18)
        XCTAssertEqual(m.weightMemory, 100, accuracy: 1e-9, "params · weight bytes is the tensor data")
        // Tied: the embedding is the output matmul too.
        XCTAssertEqual(try GGUFHeader.read(path: try write(file(output: false))).computeParameters, 128 + 64)
    }

    func testErrorsNameWhatIsWrong() throws {
        let noLayers = try write(file(blockCount: false))
        XCTAssertThrowsError(try GGUFHeader.read(path: noLayers).modelSpec(path: noLayers)) { e in
            XCTAssert("\(e)".contains("llama.block_count"), "\(e)")
            XCTAssertEqual((e as? HandoffError)?.exitCode, 2)
        }
        let whole = file(data: 0)
        let cut = try write(Array(whole.prefix(whole.count / 2)))
        XCTAssertThrowsError(try GGUFHeader.read(path: cut)) { e in
            XCTAssert("\(e)".contains("malformed GGUF header"), "\(e)")
        }
        let notGGUF = try write(Array("name: x\n".utf8))
        XCTAssertThrowsError(try GGUFHeader.read(path: notGGUF)) { e in
            XCTAssert("\(e)".contains("not a GGUF file"), "\(e)")
        }
    }

    /// `models.<key>.gguf` in a scenario: the shape comes from the file, fields beside it win.
    func testScenarioModelFromGGUF() throws {
        let path = try write(file())
        let sc = try scenario(
            """
            trace: {synthetic: {requests: 2}}
            models: {small: {gguf: \(path), weight_bytes: 4}}
            tiers: {small: {gpu: L4-24GB}}
            policy: {name: small-only}
            """)
        let m = sc.tiers[0].model
        XCTAssertEqual([m.layers, m.attentionHeads, m.kvHeads, m.headDim, m.hidden], [2, 2, 1, 4, 8])
        XCTAssertEqual(m.weightBytes, 4)
        XCTAssertThrowsError(
            try scenario(
                "trace: {synthetic: {requests: 2}}\nmodels: {small: {gguf: /nonexistent/m.gguf}}\ntiers: {small: {gpu: L4-24GB}}\npolicy: {name: small-only}\n"
            )
        ) { e in
            XCTAssert("\(e)".contains("gguf"), "\(e)")
        }
    }
}
