import ArgumentParser
import Foundation
import Handoff

func cpuSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks of the event core and the serving model (not timed tests).",
        subcommands: [MMc.self, Serving.self, Scaling.self])

    struct MMc: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "mmc",
            abstract: "M/M/c on Handoff's event core, the model of ../shared/bench/mmc_reference.c.",
            discussion:
                "Prints events_per_cpu_s (median over --repeats) and the mean wait. With --reference the C program is compiled (gcc -O2, GSL) and run alternately in the same run, and the ratio is printed."
        )
        @Option(help: "Servers c.") var servers = 8
        @Option(help: "Customers.") var customers = 1_000_000
        @Option(help: "Repeats (the median is reported).") var repeats = 5
        @Option(help: "Path of mmc_reference.c to compare with.") var reference: String?

        func run() throws {
            var binary: String? = nil
            if let reference {
                let bin = NSTemporaryDirectory() + "handoff-mmc-reference"
                let p = Process()
                p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                p.arguments = ["gcc", "-O2", "-o", bin, reference, "-lgsl", "-lgslcblas", "-lm"]
                try p.run()
                p.waitUntilExit()
                guard p.terminationStatus == 0 else { throw ValidationError("could not compile \(reference) with gcc") }
                binary = bin
            }
            var swiftRates: [Double] = []
            var cRates: [Double] = []
            var wait = 0.0
            var cWait = ""
            for _ in 0..<repeats {
                let t0 = cpuSeconds()
                let r = MMcModel(servers: servers, customers: customers).run()
                let t1 = cpuSeconds()
                swiftRates.append(Double(r.events) / (t1 - t0))
                wait = r.meanWait
                if let binary {
                    let p = Process()
                    let pipe = Pipe()
                    p.executableURL = URL(fileURLWithPath: binary)
                    p.arguments = ["array-gsl", String(servers), String(customers)]
                    p.standardOutput = pipe
                    try p.run()
                    p.waitUntilExit()
                    let line = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                    for f in line.split(separator: " ") {
                        if f.hasPrefix("ev_per_s_cpu="), let v = Double(f.dropFirst(13)) { cRates.append(v) }
                        if f.hasPrefix("meanWait=") {
                            cWait = String(f.dropFirst(9)).trimmingCharacters(in: .whitespacesAndNewlines)
                        }
                    }
                }
            }
            let erlang = ErlangC.meanWait(servers: servers, arrivalRate: 0.9 * Double(servers), serviceRate: 1)
            print(
                "RESULT lang=swift c=\(servers) customers=\(customers) events_per_cpu_s=\(Int(Statistics.median(swiftRates))) meanWait=\(wait) erlangC=\(erlang)"
            )
            if !cRates.isEmpty {
                print(
                    "RESULT lang=c variant=array-gsl events_per_cpu_s=\(Int(Statistics.median(cRates))) meanWait=\(cWait)"
                )
                print(
                    String(
                        format: "ratio swift/c = %.3f (medians of %d alternating runs); mean waits %@",
                        Statistics.median(swiftRates) / Statistics.median(cRates), repeats,
                        String(wait) == cWait ? "identical" : "DIFFER"))
            }
        }
    }

    struct Scaling: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "CPU cost per event and per simulated token at backlogs of 10 to 10,000 sequences.",
            discussion: """
                Runs the scenario as a closed loop with N requests always in flight (N = each --backlogs value), \
                so the queues hold about N sequences, and prints the event loop's CPU nanoseconds per event and \
                per simulated token (medians over --repeats; plans are memoised on the trace first, so only the \
                event loop is timed). The last line gives the ratio of the largest to the smallest cost per \
                event and per simulated token: the target is at most 2 (flat). The mix of events changes with the \
                backlog (mostly decode-run ends at 10, admissions and arrivals at 10,000), so the cost per token is the \
                one that says whether a deep queue makes simulation dearer.
                """)
        @Option(help: "Scenario (default: the embedded default scenario).") var scenario: String?
        @Option(help: "Requests per run.") var requests = 20_000
        @Option(help: "Median output tokens per request.") var outputTokens = 1000
        @Option(help: "Backlogs (requests in flight), comma-separated.") var backlogs = "10,100,1000,10000"
        @Option(help: "Repeats per backlog (the median is reported).") var repeats = 3
        @Option(name: .customLong("set"), help: ArgumentHelp("Extra overrides.", valueName: "path=value"))
        var overrides: [String] = []

        func validate() throws {
            guard requests > 0, outputTokens > 0, repeats > 0 else {
                throw ValidationError("--requests, --output-tokens and --repeats must be positive")
            }
            guard !backlogNumbers.isEmpty, backlogNumbers.allSatisfy({ $0 > 0 }) else {
                throw ValidationError("--backlogs takes positive whole numbers separated by commas, e.g. 10,100,1000")
            }
        }

        var backlogNumbers: [Int] {
            backlogs.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        }

        func run() throws {
            try guarded {
                let base =
                    [
                        "trace.synthetic.requests=\(requests)",
                        "trace.synthetic.output_tokens={median: \(outputTokens), sigma: 0.3, min: 1, max: \(outputTokens * 4)}",
                        "traffic={arrival: closed_loop, requests: \(requests)}"
                    ] + overrides
                let trace = try Simulation.loadTrace(try ScenarioLoader.load(path: scenario, overrides: base))
                var perEvent: [Double] = []
                var perToken: [Double] = []
                for n in backlogNumbers {
                    let sc = try ScenarioLoader.load(path: scenario, overrides: base + ["traffic.concurrency=\(n)"])
                    _ = try HybridSimulator(scenario: sc, trace: trace).run()  // memoises the plan
                    var cpu: [Double] = []
                    var outcome: SimulationOutcome? = nil
                    for _ in 0..<repeats {
                        let sim = HybridSimulator(scenario: sc, trace: trace)
                        let t0 = cpuSeconds()
                        outcome = try sim.run()
                        cpu.append(cpuSeconds() - t0)
                    }
                    let o = outcome!
                    let c = Statistics.median(cpu)
                    let tokens = o.requests.reduce(0) { $0 + $1.outputTokens }
                    let ns = c * 1e9 / Double(o.events)
                    perEvent.append(ns)
                    perToken.append(c * 1e9 / Double(tokens))
                    let preempted = o.tiers.reduce(0) { $0 + $1.preemptions }
                    print(
                        String(
                            format:
                                "RESULT backlog=%d events=%d tokens=%d preemptions=%d cpu_s=%.3f ns_per_event=%.1f ns_per_token=%.3f simulated_tokens_per_cpu_s=%.0f",
                            n, o.events, tokens, preempted, c, ns, c * 1e9 / Double(tokens), Double(tokens) / c))
                }
                print(
                    String(
                        format: "ratio max/min ns_per_event = %.2f, ns_per_token = %.2f (target <= 2)",
                        perEvent.max()! / perEvent.min()!, perToken.max()! / perToken.min()!))
            }
        }
    }

    struct Serving: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Simulate splitreason-a6000 with synthetic 8k–16k-token requests; print simulated_tokens_per_cpu_s.",
            discussion: """
                With a scenario whose trace is synthetic, its requests are set to --requests of 8,192–16,384 \
                output tokens (median 12,000). With a scenario that reads a trace file (for example Vidur's \
                workload, docs/vidur.md), the trace and its arrivals are used as they are and --requests is \
                ignored. simulate_cpu_s times the event loop only (the trace is loaded first); \
                simulated_tokens_per_cpu_s counts output tokens, and prompt_tokens the prefill beside them.
                """)
        @Option(help: "Scenario.") var scenario = "Scenarios/splitreason-a6000.yaml"
        @Option(help: "Requests (synthetic traces only).") var requests = 10_000
        @Option(name: .customLong("set"), help: ArgumentHelp("Extra overrides.", valueName: "path=value"))
        var overrides: [String] = []
        func run() throws {
            try guarded {
                var sc = try ScenarioLoader.load(path: scenario, overrides: overrides)
                if case .synthetic = sc.trace {
                    sc = try ScenarioLoader.load(
                        path: scenario,
                        overrides: [
                            "trace.synthetic.requests=\(requests)",
                            "trace.synthetic.output_tokens={median: 12000, sigma: 0, min: 8192, max: 16384}",
                            "traffic.requests=\(requests)"
                        ] + overrides)
                }
                let g0 = cpuSeconds()
                let trace = try Simulation.loadTrace(sc)
                let g1 = cpuSeconds()
                let t0 = cpuSeconds()
                let r = try Simulation.run(sc, trace: trace)
                let t1 = cpuSeconds()
                let tokens = r.outcome.requests.reduce(0) { $0 + $1.outputTokens }
                let prompt = r.outcome.requests.reduce(0) { $0 + $1.promptTokens }
                let preempted = r.outcome.tiers.reduce(0) { $0 + $1.preemptions }
                print(
                    String(
                        format:
                            "RESULT requests=%d tokens=%d prompt_tokens=%d events=%d preemptions=%d trace_cpu_s=%.3f simulate_cpu_s=%.3f simulated_tokens_per_cpu_s=%.0f",
                        r.outcome.requests.count, tokens, prompt, r.outcome.events, preempted, g1 - g0, t1 - t0,
                        Double(tokens) / (t1 - t0)))
            }
        }
    }
}
