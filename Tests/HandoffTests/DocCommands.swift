import Foundation
import XCTest

/// A `handoff …` command as the documentation or a `--help` text writes it: continuation lines
/// (ending in `\`) joined, a trailing `# comment` removed, `$PWD` not yet expanded. Or a file the
/// documentation tells the reader to write (`writes`), with `text` its content.
struct DocCommand: Equatable {
    /// Where it is written: `README.md:31`, `handoff whatif --help`.
    var source: String
    var text: String
    var writes: String?

    init(source: String, text: String, writes: String? = nil) {
        self.source = source
        self.text = text
        self.writes = writes
    }
}

/// Finds the documented commands mechanically, so that a command added to the docs is run without
/// anyone listing it.
enum DocCommands {
    /// Fence info strings of shell blocks (a bare ``` counts: docs/bring-your-own.md and docs/vidur.md use it).
    static let shellFences: Set<String> = ["", "sh", "bash", "shell", "console"]

    /// Every line starting `handoff ` in a shell fence or in an indented code block (4 spaces or a tab),
    /// and the YAML blocks whose introduction ends in a file name and a colon ("Save it as `prod.yaml`:").
    static func markdown(_ text: String, file: String) -> [DocCommand] {
        var found: [DocCommand] = []
        var fence: String?
        var pending: (line: Int, text: String)?
        var prose = ""
        var saved: (line: Int, name: String, indent: Int, lines: [String])?
        func finish(_ p: (line: Int, text: String)) {
            found.append(DocCommand(source: "\(file):\(p.line)", text: stripComment(p.text)))
        }
        for (k, line) in text.components(separatedBy: "\n").enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("```") {
                if let p = pending { finish(p) }
                pending = nil
                if let f = saved {
                    found.append(
                        DocCommand(
                            source: "\(file):\(f.line)", text: f.lines.joined(separator: "\n") + "\n", writes: f.name))
                    saved = nil
                }
                fence = fence == nil ? String(trimmed.dropFirst(3)).trimmingCharacters(in: .whitespaces) : nil
                if let f = fence, f == "yaml" || f == "yml", let name = savedFileName(prose) {
                    saved = (k + 2, name, line.prefix { $0 == " " }.count, [])
                }
                prose = ""
                continue
            }
            if saved != nil {
                saved!.lines.append(String(line.dropFirst(min(saved!.indent, line.prefix { $0 == " " }.count))))
                continue
            }
            if fence == nil, !trimmed.isEmpty { prose = trimmed }
            let inCode = fence.map { shellFences.contains($0) } ?? (line.hasPrefix("    ") || line.hasPrefix("\t"))
            if let p = pending {
                guard inCode else {
                    finish(p)
                    pending = nil
                    continue
                }
                pending = (p.line, joined(p.text, trimmed))
            } else if inCode, trimmed.hasPrefix("handoff ") {
                pending = (k + 1, trimmed)
            }
            if let p = pending, !p.text.hasSuffix("\\") {
                finish(p)
                pending = nil
            }
        }
        if let p = pending { finish(p) }
        return found
    }

    /// The `Example:` lines of one `--help` text (printed unwrapped: COLUMNS is set wide).
    static func helpExamples(_ help: String, command: String) -> [DocCommand] {
        var found: [DocCommand] = []
        var pending: String?
        for line in help.components(separatedBy: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if let p = pending {
                pending = joined(p, trimmed)
            } else if trimmed.hasPrefix("Example: ") {
                pending = String(trimmed.dropFirst("Example: ".count))
            }
            if let p = pending, !p.hasSuffix("\\") {
                found.append(DocCommand(source: "\(command) --help", text: stripComment(p)))
                pending = nil
            }
        }
        return found
    }

    /// A line ending in `\` continued by `next`.
    static func joined(_ line: String, _ next: String) -> String {
        String(line.dropLast()).trimmingCharacters(in: .whitespaces) + " " + next
    }

    /// The file a paragraph ending "… `NAME.yaml`:" tells the reader to save the next YAML block as.
    static func savedFileName(_ prose: String) -> String? {
        guard let r = prose.range(of: #"`[A-Za-z0-9_.-]+\.ya?ml`:$"#, options: .regularExpression) else { return nil }
        return String(prose[r].dropFirst().dropLast(2))
    }

    /// `text` without a trailing shell comment (a `#` that starts a word outside quotes).
    static func stripComment(_ text: String) -> String {
        var quote: Character?
        var previous: Character = " "
        for i in text.indices {
            let c = text[i]
            if let q = quote {
                if c == q { quote = nil }
            } else if c == "'" || c == "\"" {
                quote = c
            } else if c == "#", previous == " " || previous == "\t" {
                return text[..<i].trimmingCharacters(in: .whitespaces)
            }
            previous = c
        }
        return text.trimmingCharacters(in: .whitespaces)
    }

    /// The help text of `handoff` and of every subcommand, nested groups included, unwrapped.
    static func helpTexts(_ path: [String] = []) throws -> [(command: [String], help: String)] {
        let r = try runCLI(path + ["--help"], environment: ["COLUMNS": "10000"])
        guard r.status == 0 else {
            XCTFail("handoff \(path.joined(separator: " ")) --help exited \(r.status): \(r.stderr)")
            return []
        }
        var all = [(command: path, help: r.stdout)]
        for sub in subcommands(r.stdout) { all += try helpTexts(path + [sub]) }
        return all
    }

    /// The names listed under SUBCOMMANDS: in a help text.
    static func subcommands(_ help: String) -> [String] {
        guard let start = help.range(of: "\nSUBCOMMANDS:\n") else { return [] }
        var names: [String] = []
        for line in help[start.upperBound...].components(separatedBy: "\n") {
            guard line.hasPrefix("  "), let name = line.split(separator: " ").first, !line.hasPrefix("  See ") else {
                break
            }
            names.append(String(name))
        }
        return names
    }
}

/// A command line split into words as sh splits it, enough for the documentation's commands:
/// single and double quotes, backslash escapes, `$PWD` / `${PWD}` (the scratch folder), `> FILE`
/// and a trailing `&`. Other variables are left as written and listed in `variables`.
struct ShellWords: Equatable {
    var words: [String] = []
    var stdout: String?
    var background = false
    var variables: [String] = []

    init(_ line: String, pwd: String) {
        var lexer = ShellLexer(chars: Array(line), pwd: pwd)
        lexer.run()
        words = lexer.words
        stdout = lexer.stdout
        background = lexer.background
        variables = lexer.variables
    }

    init(words: [String], stdout: String? = nil, background: Bool = false, variables: [String] = []) {
        self.words = words
        self.stdout = stdout
        self.background = background
        self.variables = variables
    }
}

private struct ShellLexer {
    let chars: [Character]
    let pwd: String
    var i = 0
    var words: [String] = []
    var stdout: String?
    var background = false
    var variables: [String] = []
    var word: String?
    var redirect = false

    init(chars: [Character], pwd: String) {
        self.chars = chars
        self.pwd = pwd
    }

    mutating func endWord() {
        guard let w = word else { return }
        if redirect { stdout = w } else { words.append(w) }
        redirect = false
        word = nil
    }

    mutating func run() {
        while i < chars.count {
            let c = chars[i]
            i += 1
            switch c {
            case " ", "\t": endWord()
            case "'": word = (word ?? "") + single()
            case "\"": word = (word ?? "") + double()
            case "\\" where i < chars.count:
                word = (word ?? "") + String(chars[i])
                i += 1
            case "$": word = (word ?? "") + variable()
            case ">":
                endWord()
                redirect = true
            case "&" where word == nil: background = true
            case "#" where word == nil: i = chars.count
            default: word = (word ?? "") + String(c)
            }
        }
        endWord()
    }

    mutating func single() -> String {
        var s = ""
        while i < chars.count, chars[i] != "'" {
            s.append(chars[i])
            i += 1
        }
        i += 1
        return s
    }

    mutating func double() -> String {
        var s = ""
        while i < chars.count, chars[i] != "\"" {
            if chars[i] == "\\", i + 1 < chars.count, "\"\\$`".contains(chars[i + 1]) {
                s.append(chars[i + 1])
                i += 2
            } else if chars[i] == "$" {
                i += 1
                s += variable()
            } else {
                s.append(chars[i])
                i += 1
            }
        }
        i += 1
        return s
    }

    /// After a `$`: the value of PWD, or the reference as written for any other name.
    mutating func variable() -> String {
        let braced = i < chars.count && chars[i] == "{"
        var j = braced ? i + 1 : i
        var name = ""
        while j < chars.count, chars[j].isLetter || chars[j].isNumber || chars[j] == "_" {
            name.append(chars[j])
            j += 1
        }
        if braced {
            guard j < chars.count, chars[j] == "}" else { return "$" }
            j += 1
        }
        guard !name.isEmpty else { return "$" }
        let written = "$" + String(chars[i..<j])
        i = j
        if name == "PWD" { return pwd }
        variables.append(name)
        return written
    }
}
