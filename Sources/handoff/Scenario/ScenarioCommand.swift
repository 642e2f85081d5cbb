import ArgumentParser
import Foundation
import Handoff

struct ScenarioCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scenario", abstract: "Work with scenario files.", subcommands: [Check.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a scenario (and its trace) without simulating; print it resolved.")
        @Argument(help: "Scenario YAML file.") var file: String
        @Option(
            name: .customLong("set"),
            help: ArgumentHelp("Override a field: path.to.field=value.", valueName: "path=value"))
        var overrides: [String] = []
        func run() throws {
            try guarded {
                let sc = try ScenarioLoader.load(path: file, overrides: overrides)
                let trace = try Simulation.loadTrace(sc)
                var s =
                    "ok: \(file): scenario '\(sc.name)', policy \(sc.policy.name), \(trace.count) trace requests, \(trace.totalOutputTokens) output tokens\n"
                for t in sc.tiers {
                    if let d = t.disaggregation {
                        s += String(
                            format:
                                "  tier %@: prefill %d × %@ (tp %d) → KV link %g Gbit/s → decode %d × %@ (tp %d), %@ %.1f GiB weights, KV room per replica: prefill %d, decode %d tokens\n",
                            t.name, d.prefill.replicas, d.prefill.gpu.name, d.prefill.tensorParallel, d.kvLinkGbps,
                            d.decode.replicas, d.decode.gpu.name, d.decode.tensorParallel, t.model.name,
                            t.model.weightMemory / 1_073_741_824, t.pool(.prefill).kvCapacityTokens,
                            t.pool(.decode).kvCapacityTokens)
                    } else if t.kind == .gpu {
                        s += String(
                            format: "  tier %@: %d × %@ (tp %d), %@ %.1f GiB weights, KV room %d tokens\n", t.name,
                            t.replicas, t.gpu.name,
                            t.tensorParallel, t.model.name, t.model.weightMemory / 1_073_741_824, t.kvCapacityTokens)
                    } else {
                        s += "  tier \(t.name): API\n"
                    }
                }
                emit(s)
            }
        }
    }
}
