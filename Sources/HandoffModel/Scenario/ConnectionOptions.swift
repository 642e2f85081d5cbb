import Foundation
import HandoffSupport

/// How to reach a server beyond its URL: an API key sent as `Authorization: Bearer …` (never
/// printed: `description` masks it) and, for `https://`, a CA file that vouches for the server's
/// certificate (a private CA or a self-signed certificate; the system store otherwise).
public struct ConnectionOptions: Sendable, Equatable, CustomStringConvertible {
    public var apiKey: String?
    public var caFile: String?
    public init(apiKey: String? = nil, caFile: String? = nil) {
        self.apiKey = apiKey
        self.caFile = caFile
    }
    public var headers: [String] { apiKey.map { ["Authorization: Bearer \($0)"] } ?? [] }
    public var description: String {
        "ConnectionOptions(apiKey: \(apiKey == nil ? "none" : "set"), caFile: \(caFile ?? "system"))"
    }
}
