import Foundation
import HandoffAnalysis
import HandoffModel
import HandoffSim
import HandoffSupport

/// A prompt to send to an engine, with its reference answer when one is known.
public struct Prompt: Sendable, Equatable {
    public var id: String
    public var text: String
    public var answer: String?
    /// Kept out of every fit (`held_out: true` in the file): the split a closed-loop model is
    /// checked on.
    public var heldOut = false

    public init(id: String, text: String, answer: String? = nil, heldOut: Bool = false) {
        self.id = id
        self.text = text
        self.answer = answer
        self.heldOut = heldOut
    }
}

/// Prompt files (JSON Lines: `id`, `prompt`, optional `answer` and `held_out`) and the procedurally generated
/// arithmetic word problems Handoff ships, whose answers are known exactly.
public enum PromptSet {
    /// Reads prompts; errors name file, line and field.
    public static func read(path: String) throws -> [Prompt] {
        let text = String(decoding: try FileIO.read(path), as: UTF8.self)
        var out: [Prompt] = []
        for (k, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            let v: JSONValue
            do { v = try JSONParser.parse(line) } catch {
                throw HandoffError.input(
                    "not JSON (column \(error.offset + 1)): \(error.message)", file: path, line: k + 1)
            }
            guard case .object(let pairs) = v else {
                throw HandoffError.input("expected an object per line", file: path, line: k + 1)
            }
            for (key, _) in pairs where !["id", "prompt", "answer", "held_out"].contains(key) {
                throw HandoffError.input(
                    "unknown field; expected id, prompt, answer, held_out", file: path, line: k + 1, field: key)
            }
            guard case .string(let p)? = v["prompt"], !p.isEmpty else {
                throw HandoffError.input("missing or not a non-empty string", file: path, line: k + 1, field: "prompt")
            }
            var id = "p\(out.count)"
            switch v["id"] {
            case .string(let s)?: id = s
            case .number(let d)? where d == d.rounded(): id = String(Int64(d))
            case nil: break
            default: throw HandoffError.input("expected a string or an integer", file: path, line: k + 1, field: "id")
            }
            var answer: String?
            switch v["answer"] {
            case .string(let s)?: answer = s
            case .number(let d)?: answer = JSONWriter.number(d)
            case nil, .null?: break
            default: throw HandoffError.input("expected a string or a number", file: path, line: k + 1, field: "answer")
            }
            var heldOut = false
            switch v["held_out"] {
            case .bool(let b)?: heldOut = b
            case nil: break
            default: throw HandoffError.input("expected true or false", file: path, line: k + 1, field: "held_out")
            }
            out.append(Prompt(id: id, text: p, answer: answer, heldOut: heldOut))
        }
        if out.isEmpty { throw HandoffError.input("no prompts in the file", file: path) }
        return out
    }

    public static func line(_ p: Prompt) -> String {
        var pairs: [(String, JSONValue)] = [("id", .string(p.id)), ("prompt", .string(p.text))]
        if let a = p.answer { pairs.append(("answer", .string(a))) }
        if p.heldOut { pairs.append(("held_out", .bool(true))) }
        return JSONWriter.write(.object(pairs))
    }

    /// `count` arithmetic word problems with one to three operations on small integers; the
    /// answer is the exact integer result. Deterministic in `seed` (GSL MT19937 stream "prompts").
    public static func arithmetic(count: Int, seed: UInt64) -> [Prompt] {
        let names = ["Ana", "Ben", "Chloe", "Dev", "Elif", "Farid", "Grace", "Hugo", "Ines", "Jon", "Kemal", "Lena"]
        let things = ["apples", "marbles", "books", "stickers", "coins", "pencils", "cards", "shells"]
        let rng = RandomStream(seed: seed, name: "prompts")
        func pick<T>(_ a: [T]) -> T { a[rng.int(below: a.count)] }
        var out: [Prompt] = []
        for i in 0..<count {
            let who = pick(names)
            let what = pick(things)
            var value = 5 + rng.int(below: 46)
            var story = "\(who) has \(value) \(what)."
            let steps = 1 + rng.int(below: 3)
            for _ in 0..<steps {
                switch rng.int(below: 4) {
                case 0:
                    let k = 2 + rng.int(below: 30)
                    story += " \(who) gets \(k) more \(what)."
                    value += k
                case 1 where value > 2:
                    let k = 1 + rng.int(below: value - 1)
                    story += " \(who) gives away \(k) \(what)."
                    value -= k
                case 2 where value < 200:
                    let k = 2 + rng.int(below: 3)
                    story += " Then the number of \(what) is multiplied by \(k)."
                    value *= k
                default:
                    let k = 3 + rng.int(below: 12)
                    story += " A friend gives \(who) \(k) \(what)."
                    value += k
                }
            }
            story += " How many \(what) does \(who) have now? Answer with the number."
            out.append(Prompt(id: "arith-\(i)", text: story, answer: String(value)))
        }
        return out
    }

    /// Does `output` answer `reference`? The last number in the output must equal the reference
    /// (numerically when both are numbers, else as trimmed text).
    public static func isCorrect(output: String, reference: String) -> Bool {
        var numbers: [Substring] = []
        var i = output.startIndex
        while i < output.endIndex {
            if output[i].isNumber
                || (output[i] == "-" && output.index(after: i) < output.endIndex
                    && output[output.index(after: i)].isNumber)
            {
                var j = output.index(after: i)
                while j < output.endIndex, output[j].isNumber || output[j] == "." || output[j] == "," {
                    j = output.index(after: j)
                }
                var n = output[i..<j]
                while n.last == "." || n.last == "," { n.removeLast() }
                numbers.append(n)
                i = j
            } else {
                i = output.index(after: i)
            }
        }
        guard let last = numbers.last else { return false }
        let clean = last.replacingOccurrences(of: ",", with: "")
        if let a = Double(clean), let b = Double(reference.trimmingCharacters(in: .whitespaces)) { return a == b }
        return clean == reference.trimmingCharacters(in: .whitespaces)
    }
}
