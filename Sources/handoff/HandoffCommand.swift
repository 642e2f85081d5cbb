import ArgumentParser
import Foundation
import Handoff

/// The version `handoff --version` prints. Raise it in the commit that changes what the tool does.
let handoffVersion = "0.1.0"

@main
struct HandoffCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "handoff",
        abstract: "Simulate and tune hybrid small/large LLM inference from token-difficulty traces.",
        discussion: """
            A scenario (YAML, see docs/scenario.md) names the trace, the traffic, the models, the GPU tiers, \
            the network, the prices and the policy; `simulate` predicts latency, throughput, memory, cost, \
            offload share and accuracy. Any field can be overridden with --set path.to.field=value.

            Exit codes: 0 success, 2 bad input (the message names file, line and field, or the argument), \
            1 other failures. An existing output that Handoff did not write is replaced only with --force, \
            and never when it is an input or holds other files. Input limits (tokens per request, grid \
            size, scenario nesting) and how to raise them: docs/limits.md.
            """,
        version: handoffVersion,
        subcommands: [
            Simulate.self, ScenarioCommand.self, TraceCommand.self, Record.self, Validate.self, ClosedLoopCommand.self, SpecsLoopCommand.self,
            Calibrate.self, CompareCommand.self,
            EngineCommand.self, ValidateSpeculative.self, ValidateSpecs.self, PromptsCommand.self, SweepCommand.self,
            MergeCommand.self, TuneCommand.self, CapacityCommand.self, WhatIfCommand.self, ReportCommand.self,
            Bench.self
        ])

    /// Runs the command as ArgumentParser does, except that a usage error (an unknown option, a
    /// missing or malformed argument: ArgumentParser's exit 64) exits 2 like every other bad input.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var c = command as? AsyncParsableCommand { try await c.run() } else { try command.run() }
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}

/// Runs `body`, turning its error into a message on stderr and an exit code (`reported`).
func guarded(_ body: () throws -> Void) throws {
    do { try body() } catch { throw reported(error) }
}

/// The error a command ends with: Handoff's errors on stderr with their exit code, engine failures
/// exit 1; ArgumentParser's own pass through; anything else (a Foundation error from I/O) prints
/// its message and exits 1, never a raw dump.
func reported(_ error: Error) -> Error {
    switch error {
    case let e as HandoffError:
        FileHandle.standardError.write(Data("error: \(e.description)\n".utf8))
        return ExitCode(e.exitCode)
    case let e as EngineError:
        FileHandle.standardError.write(Data("error: \(e.description)\n".utf8))
        return ExitCode(1)
    case is ExitCode, is ValidationError:
        return error
    default:
        FileHandle.standardError.write(Data("error: \((error as NSError).localizedDescription)\n".utf8))
        return ExitCode(1)
    }
}

/// `guarded` for async commands.
func guardedAsync(_ body: () async throws -> Void) async throws {
    do { try await body() } catch { throw reported(error) }
}

func emit(_ s: String) { FileHandle.standardOutput.write(Data(s.utf8)) }

enum OutputFormat: String, ExpressibleByArgument, CaseIterable { case table, json, csv }

/// The formats of commands that print a table or a JSON document and nothing else (no CSV): the
/// parser rejects any other value, and `--help` lists only these two.
enum TableOrJSON: String, ExpressibleByArgument, CaseIterable { case table, json }
