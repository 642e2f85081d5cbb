import Foundation
import HandoffSupport

/// Imports SplitReason-style annotated reasoning: text in which the segments the large model
/// should generate are wrapped in `<bigmodel>…</bigmodel>` (the closing tag `<\bigmodel>` is
/// accepted too, as it occurs in the SplitReason data).
///
/// Input: JSON Lines with a `response` (or `text`) field and optionally `id`, `prompt`,
/// `prompt_tokens`, `small_correct`, `large_correct`, `answer`; or any other file, taken as one
/// response. Tokens inside a span get difficulty 1, others 0.
///
/// Token counts are an approximation without the model's tokenizer: text is split into pieces
/// the way GPT-style pre-tokenizers do (a run of letters with its leading space, a run of up to
/// three digits, a single other character; whitespace before a letter run belongs to it). For
/// exact counts record the trace from a server (`handoff record`).
public enum SplitReasonImport {
    public static func tokenCount(_ text: Substring) -> Int {
        var n = 0
        var it = text.unicodeScalars.makeIterator()
        var c = it.next()
        while let ch = c {
            if ch.properties.isWhitespace {
                c = it.next()
                if let nx = c, nx.properties.isAlphabetic { continue }  // space attaches to the word
                n += 1
                while let w = c, w.properties.isWhitespace { c = it.next() }
                continue
            }
            if ch.properties.isAlphabetic {
                n += 1
                while let w = c, w.properties.isAlphabetic { c = it.next() }
            } else if ch.properties.numericType != nil {
                var k = 0
                while let w = c, w.properties.numericType != nil, k < 3 {
                    c = it.next()
                    k += 1
                }
                n += 1
            } else {
                n += 1
                c = it.next()
            }
        }
        return n
    }

    /// Splits annotated text into (tokens, hard) pieces, tags removed.
    public static func pieces(_ text: String) -> [(tokens: Int, hard: Bool)] {
        var out: [(Int, Bool)] = []
        var rest = Substring(text)
        var hard = false
        let open = "<bigmodel>"
        let closes = ["</bigmodel>", "<\\bigmodel>"]
        while !rest.isEmpty {
            let tags = hard ? closes : [open]
            let hit = tags.compactMap { rest.range(of: $0) }.min(by: { $0.lowerBound < $1.lowerBound })
            let chunk = hit.map { rest[..<$0.lowerBound] } ?? rest
            let n = tokenCount(chunk)
            if n > 0 { out.append((n, hard)) }
            guard let h = hit else { break }
            rest = rest[h.upperBound...]
            hard.toggle()
        }
        return out
    }

    public static func read(path: String) throws -> Trace {
        let data = try FileIO.read(path)
        let text = String(decoding: data, as: UTF8.self)
        var items: [(TraceRequest, String)] = []
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if path.hasSuffix(".jsonl") || trimmed.hasPrefix("{") {
            for (k, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
                let v: JSONValue
                do { v = try JSONParser.parse(String(line)) } catch {
                    throw HandoffError.input(
                        "invalid JSON: \(error.message)", file: path, line: k + 1, column: error.offset + 1)
                }
                guard case .object = v else {
                    throw HandoffError.input("expected a JSON object", file: path, line: k + 1)
                }
                guard case .string(let resp)? = v["response"] ?? v["text"] else {
                    throw HandoffError.input(
                        "missing; expected the annotated text in \"response\" or \"text\"", file: path, line: k + 1,
                        field: "response")
                }
                var prompt: String? = nil
                if case .string(let p)? = v["prompt"] { prompt = p }
                var ptoks = prompt.map { tokenCount(Substring($0)) } ?? 0
                if let x = v["prompt_tokens"] {
                    guard case .number(let d) = x, let t = Limits.integer(d, limit: Limits.requestTokens) else {
                        throw HandoffError.input(
                            "expected an integer in 0…\(Limits.requestTokens), got \(JSONWriter.write(x))", file: path,
                            line: k + 1, field: "prompt_tokens")
                    }
                    ptoks = t
                }
                var id = "sr-\(items.count)"
                if case .string(let s)? = v["id"] {
                    id = s
                } else if case .number(let x)? = v["id"] {
                    guard let s = TraceJSONL.integerID(x) else {
                        throw HandoffError.input(
                            "expected a string or an integer", file: path, line: k + 1, field: "id")
                    }
                    id = s
                }
                var q = TraceRequest(id: id, promptTokens: ptoks, prompt: prompt)
                if case .bool(let b)? = v["small_correct"] { q.smallCorrect = b }
                if case .bool(let b)? = v["large_correct"] { q.largeCorrect = b }
                if case .string(let s)? = v["answer"] { q.answer = s }
                items.append((q, resp))
            }
        } else {
            items.append(
                (
                    TraceRequest(
                        id: URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent, promptTokens: 0), text
                ))
        }
        if items.isEmpty { throw HandoffError.input("no requests found", file: path) }
        var trace = TraceBuilder()
        for (q, resp) in items {
            trace.append(
                q, difficulty: pieces(resp).flatMap { n, hard in repeatElement(Float(hard ? 1 : 0), count: n) })
        }
        return trace.build()
    }
}
