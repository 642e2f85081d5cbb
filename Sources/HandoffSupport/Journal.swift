import Foundation

/// Append-only JSON Lines journals with a header line (`sweep`, `validate`): resumable after a
/// kill. Creates the file with its header when missing; refuses a file with another header;
/// drops a half-written last line (rewriting the file) before anything is appended, or the next
/// line would be glued to it. Returns the complete lines after the header, first of each index.
/// `equivalent` lists older spellings of the same header (journals written before a field was
/// added with its default), accepted and kept as they are.
public enum Journal {
    public static func read(
        path: String, header: String, equivalent: [String] = [], index: (JSONValue) -> Int?
    ) throws -> [JSONValue] {
        guard FileManager.default.fileExists(atPath: path) else {
            try FileIO.writeAtomically(header + "\n", to: path)
            return []
        }
        let text = String(decoding: try FileIO.read(path), as: UTF8.self)
        let lines = text.split(separator: "\n")
        guard let first = lines.first, String(first) == header || equivalent.contains(String(first)) else {
            throw HandoffError.input(
                "\(path) belongs to another run (\(lines.first.map { String($0.prefix(300)) } ?? "empty")); use another --out or delete it"
            )
        }
        var kept = [String(first)]
        var out: [JSONValue] = []
        var seen = Set<Int>()
        for l in lines.dropFirst() {
            guard let v = try? JSONParser.parse(String(l)), let i = index(v), seen.insert(i).inserted else { continue }
            out.append(v)
            kept.append(String(l))
        }
        if kept.count != lines.count || !text.hasSuffix("\n") {
            try FileIO.writeAtomically(kept.joined(separator: "\n") + "\n", to: path)
        }
        return out
    }
}
