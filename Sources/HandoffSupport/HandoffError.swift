/// An error a user can act on: where (file, line, column, field), what was wrong, what was expected.
///
/// `exitCode` is 2 for bad input (scenario, trace, command-line values) and 1 for failures of the
/// run itself, so scripts can tell "fix your input" from "something broke".
public struct HandoffError: Error, CustomStringConvertible, Sendable {
    public var file: String?
    public var line: Int?
    public var column: Int?
    public var field: String?
    public var message: String
    public var exitCode: Int32
    /// Set when the configuration is valid but cannot run: a model's weights leave no room for a
    /// KV cache on the chosen GPU. Planners treat such a configuration as infeasible, not as bad input.
    public var doesNotFit = false

    public init(
        file: String? = nil, line: Int? = nil, column: Int? = nil, field: String? = nil,
        _ message: String, exitCode: Int32 = 2
    ) {
        self.file = file
        self.line = line
        self.column = column
        self.field = field
        self.message = message
        self.exitCode = exitCode
    }

    /// `file:line:column: field: message`, leaving out the parts that are unknown.
    public var description: String {
        var where_ = ""
        if let file { where_ += file }
        if let line { where_ += (where_.isEmpty ? "line " : ":") + String(line) }
        if let column, line != nil { where_ += ":" + String(column) }
        var s = where_.isEmpty ? "" : where_ + ": "
        if let field { s += field + ": " }
        return s + message
    }

    /// An input error (exit 2).
    public static func input(
        _ message: String, file: String? = nil, line: Int? = nil, column: Int? = nil, field: String? = nil
    ) -> HandoffError {
        HandoffError(file: file, line: line, column: column, field: field, message, exitCode: 2)
    }
}
