import HandoffSupport

/// A lexical pass over scenario YAML before the YAML library sees it, enforcing what the library
/// cannot bound: anchors and aliases (a 10⁹-node "billion laughs" expands in the composer and in
/// every walk of its tree) and flow nesting (`[[[[…` recurses once per level). O(bytes).
///
/// The pass skips quoted scalars and comments. An anchor (`&name`) or alias (`*name`) can only
/// start a node: at the start of a line, or after `- `, `: `, `? `, `[`, `{` or `,`; a plain
/// scalar never starts with `&` or `*`. Block nesting is bounded by the file size.
enum YAMLPrescan {
    static func check(_ yaml: String, origin: String, maxDepth: Int = Limits.scenarioDepth) throws {
        let b = Array(yaml.utf8)
        guard b.count <= Limits.scenarioBytes else {
            throw HandoffError.input(
                "the scenario has \(b.count) bytes; at most \(Limits.scenarioBytes) (docs/limits.md)", file: origin)
        }
        var line = 1
        var lineStart = 0
        var depth = 0
        var i = 0
        var nodeStart = true  // at a position where a node may start
        func fail(_ msg: String) -> HandoffError { .input(msg, file: origin, line: line, column: i - lineStart + 1) }
        while i < b.count {
            let c = b[i]
            switch c {
            case 0x0A:  // newline
                line += 1
                lineStart = i + 1
                nodeStart = true
                i += 1
                continue
            case 0x20, 0x09, 0x0D:
                i += 1
                continue
            case 0x23:  // '#': a comment when at line start or after whitespace
                if i == lineStart || b[i - 1] == 0x20 || b[i - 1] == 0x09 {
                    while i < b.count, b[i] != 0x0A { i += 1 }
                    continue
                }
            case 0x27 where nodeStart, 0x22 where nodeStart:  // a quoted scalar: skip to its closing quote
                skipQuoted(b, &i, line: &line, lineStart: &lineStart)
                nodeStart = false
                continue
            case 0x26 where nodeStart, 0x2A where nodeStart:  // '&' or '*'
                throw fail(
                    "YAML \(c == 0x26 ? "anchors (&name)" : "aliases (*name)") are not supported in scenarios; write the value out"
                )
            case 0x5B, 0x7B:  // '[' '{'
                if nodeStart || depth > 0 {
                    depth += 1
                    if depth > maxDepth { throw fail("the scenario nests deeper than \(maxDepth) levels") }
                    i += 1
                    nodeStart = true
                    continue
                }
            case 0x5D, 0x7D:  // ']' '}'
                if depth > 0 { depth -= 1 }
                i += 1
                nodeStart = false
                continue
            case 0x2C where depth > 0:  // ','
                i += 1
                nodeStart = true
                continue
            case 0x2D, 0x3F, 0x3A:  // '-', '?', ':' followed by a space start a node
                if i + 1 >= b.count || b[i + 1] == 0x20 || b[i + 1] == 0x0A || b[i + 1] == 0x09 || b[i + 1] == 0x0D {
                    i += 1
                    nodeStart = true
                    continue
                }
            default: break
            }
            // Any other character: inside a plain scalar until a separator.
            nodeStart = false
            i += 1
        }
    }

    /// From the opening quote at `i` to just past its closing one: backslash escapes in "…",
    /// '' in '…', newlines counted.
    static func skipQuoted(_ b: [UInt8], _ i: inout Int, line: inout Int, lineStart: inout Int) {
        let q = b[i]
        i += 1
        while i < b.count {
            if b[i] == 0x0A {
                line += 1
                lineStart = i + 1
            }
            if q == 0x22, b[i] == 0x5C {
                i += 2
                continue
            }  // backslash escape in "…"
            if b[i] == q {
                if q == 0x27, i + 1 < b.count, b[i + 1] == 0x27 {
                    i += 2
                    continue
                }  // '' in '…'
                break
            }
            i += 1
        }
        i += 1
    }
}
