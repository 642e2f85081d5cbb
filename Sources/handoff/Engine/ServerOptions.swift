import ArgumentParser
import Foundation
import Handoff

struct ServerOptions: ParsableArguments {
    @Option(help: "First-byte timeout per request, seconds.") var timeout: Double = 300
    @Option(help: "Retries of a refused connection or a 503, with exponential backoff.") var retries: Int = 3
    @Option(
        help: ArgumentHelp(
            "Send the API key held by this environment variable (Authorization: Bearer); the key is never printed.",
            discussion: "Overrides engine.<tier>.api_key_env.", valueName: "NAME"))
    var apiKeyEnv: String?
    @Option(
        help: ArgumentHelp(
            "PEM file of the CA(s) that vouch for an https:// server (a private CA or a self-signed certificate); default: the system's store.",
            valueName: "FILE"))
    var cacert: String?

    /// A client of `url`; the scenario's engine section for `tier` supplies the key variable and
    /// CA file unless the command line names them.
    func client(_ url: String, tier: String? = nil, scenario: Scenario? = nil) throws -> OpenAIClient {
        var spec = tier.flatMap { scenario?.engine[$0] } ?? .defaults
        if let cacert {
            guard FileManager.default.isReadableFile(atPath: cacert) else {
                throw HandoffError.input(
                    "cannot read '\(cacert)'; expected a PEM file of CA certificates", field: "--cacert")
            }
            spec.caFile = cacert
        }
        if let apiKeyEnv { spec.apiKeyEnv = apiKeyEnv }
        let connection = try spec.connection(tier: tier ?? "server", field: apiKeyEnv != nil ? "--api-key-env" : nil)
        return try OpenAIClient(
            base: url, firstByteTimeout: timeout, idleTimeout: max(60, timeout / 2), retries: retries,
            connection: connection)
    }
}
