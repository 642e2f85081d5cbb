import Foundation
import HandoffSupport

/// NumPy `.npy` files (format 1.0–3.0, little-endian, C order, one or two dimensions), so Python users can
/// write columnar traces with `numpy.save`. Reading memory-maps the file: O(1) in its size.
/// Reference: numpy/lib/format.py (the NPY format specification).
public enum NPY {
    public struct Array1D {
        public let descr: String
        public let count: Int
        /// Columns of a 2-D array (1 for a 1-D one); `count` is rows × columns.
        public var columns = 1
        public let dataOffset: Int
        public let file: MappedFile
        public var base: UnsafeRawPointer { file.base + dataOffset }
    }

    /// Maps `path` and checks it holds a 1-D array (or, with `twoD`, a 2-D one) of one of `descrs`.
    public static func map(_ path: String, descrs: [String], twoD: Bool = false) throws -> Array1D {
        let f = try MappedFile(path: path)
        func bad(_ m: String) -> HandoffError { .input(m, file: path) }
        guard f.size >= 10, f.base.load(as: UInt8.self) == 0x93,
            String(decoding: UnsafeRawBufferPointer(start: f.base + 1, count: 5), as: UTF8.self) == "NUMPY"
        else {
            throw bad("not a NumPy .npy file (bad magic)")
        }
        let major = f.base.load(fromByteOffset: 6, as: UInt8.self)
        let headerLen: Int
        let headerStart: Int
        if major == 1 {
            headerLen = Int(f.base.loadUnaligned(fromByteOffset: 8, as: UInt16.self).littleEndian)
            headerStart = 10
        } else if major == 2 || major == 3 {
            guard f.size >= 12 else { throw bad("truncated header") }
            headerLen = Int(f.base.loadUnaligned(fromByteOffset: 8, as: UInt32.self).littleEndian)
            headerStart = 12
        } else {
            throw bad("unsupported .npy version \(major)")
        }
        guard headerStart + headerLen <= f.size else { throw bad("truncated header") }
        let header = String(
            decoding: UnsafeRawBufferPointer(start: f.base + headerStart, count: headerLen), as: UTF8.self)
        guard let descr = field(header, "descr") else { throw bad("header has no 'descr'") }
        let d = descr.trimmingCharacters(in: CharacterSet(charactersIn: "'\" "))
        let normal = d == "u1" || d == "<u1" ? "|u1" : d
        guard descrs.contains(normal) else {
            throw bad("dtype \(d) is not supported here; expected one of \(descrs.joined(separator: ", "))")
        }
        if let fo = field(header, "fortran_order"), fo.contains("True") {
            throw bad("Fortran order is not supported; save a 1-D C-order array")
        }
        guard let shape = field(header, "shape") else { throw bad("header has no 'shape'") }
        let dims = shape.trimmingCharacters(in: CharacterSet(charactersIn: "() ")).split(separator: ",").map {
            $0.trimmingCharacters(in: .whitespaces)
        }.filter { !$0.isEmpty }
        let sizes = dims.compactMap { Int($0) }.filter { $0 >= 0 }
        guard sizes.count == dims.count, dims.count == (twoD ? 2 : 1) else {
            throw bad("shape \(shape): expected a \(twoD ? "2-D (rows, columns)" : "1-D") array of sizes ≥ 0")
        }
        let itemSize = Int(normal.dropFirst(2)) ?? 1
        let offset = headerStart + headerLen
        // Checked: a shape such as (2**62,) must not wrap around and pass the size check.
        guard let n = sizes.reduce(Optional(1), { acc, s in acc.flatMap { Checked.multiply($0, s) } }),
            let bytes = Checked.multiply(n, itemSize), let end = Checked.add(offset, bytes), end <= f.size
        else {
            throw bad(
                "file is shorter than its shape \(shape) says (\(f.size - offset) data bytes of \(itemSize)-byte items)"
            )
        }
        return Array1D(descr: normal, count: n, columns: twoD ? sizes[1] : 1, dataOffset: offset, file: f)
    }

    static func field(_ header: String, _ key: String) -> String? {
        guard let r = header.range(of: "'\(key)'") ?? header.range(of: "\"\(key)\"") else { return nil }
        var rest = header[r.upperBound...].drop(while: { $0 == " " || $0 == ":" })
        if rest.first == "(" {
            guard let close = rest.firstIndex(of: ")") else { return nil }
            return String(rest[...close])
        }
        if let comma = rest.firstIndex(where: { $0 == "," || $0 == "}" }) { rest = rest[..<comma] }
        return String(rest)
    }

    /// The bytes of a `.npy` v1.0 file holding `data` (raw little-endian items) with `descr`.
    public static func encode(descr: String, count: Int, columns: Int? = nil, data: UnsafeRawBufferPointer) -> Data {
        let shape = columns.map { "(\(count / max($0, 1)), \($0))" } ?? "(\(count),)"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }"
        let total = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - total % 64) % 64) + "\n"
        var out = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let n = UInt16(header.utf8.count)
        out.append(contentsOf: [UInt8(n & 0xFF), UInt8(n >> 8)])
        out.append(contentsOf: Array(header.utf8))
        out.append(contentsOf: data)
        return out
    }

    public static func encode(_ values: [Int64]) -> Data {
        values.withUnsafeBytes { encode(descr: "<i8", count: values.count, data: $0) }
    }

    public static func encode(_ values: [Int32]) -> Data {
        values.withUnsafeBytes { encode(descr: "<i4", count: values.count, data: $0) }
    }

    /// A 2-D `<f4` array of `columns` columns (row-major `values`).
    public static func encode(_ values: [Float], columns: Int) -> Data {
        values.withUnsafeBytes { encode(descr: "<f4", count: values.count, columns: columns, data: $0) }
    }

    /// Reads a 2-D float array (`<f4` or `<f8`) into memory: (columns, row-major values).
    public static func readFloats2D(_ path: String) throws -> (columns: Int, values: [Float]) {
        let a = try map(path, descrs: ["<f4", "<f8"], twoD: true)
        if a.descr == "<f8" {
            return (
                a.columns, (0..<a.count).map { Float(a.base.loadUnaligned(fromByteOffset: 8 * $0, as: Double.self)) }
            )
        }
        return (a.columns, (0..<a.count).map { a.base.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) })
    }

    /// Reads an integer array (`<i8` or `<i4`) into memory.
    public static func readInts(_ path: String) throws -> [Int] {
        let a = try map(path, descrs: ["<i8", "<i4"])
        if a.descr == "<i8" {
            return (0..<a.count).map { Int(a.base.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) }
        }
        return (0..<a.count).map { Int(a.base.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self)) }
    }
}
