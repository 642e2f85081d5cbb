// The instruction-count guard's fixed workload (`scripts/perf-guard` counts its instructions under
// callgrind, inside `HybridSimulator.run` only): two overloaded runs, so that queues build up and
// every part of the replica scheduler runs — the embedded default scenario (sequential handoffs,
// prefix caching) at ten times its rate, and splitreason-a6000 (pipelined, table latency) with a
// backlog. A plain synchronous program (no argument parser, no concurrency
// runtime), because valgrind 3.19 cannot run the `handoff` binary. Run it from the package root.
import Glibc
import Handoff

let runs: [(String?, [String])] = [
    (nil, ["trace.synthetic.requests=600", "traffic.rate_rps=5", "policy.offload_threshold=0.5"]),
    // `bench serving`'s workload at twice its rate, cut to 1,200 requests: a backlog of hundreds of
    // resident contexts builds, so a scan over queued or resident sequences shows (the scheduler of
    // 3876820 executes 8.5 times the instructions of this one here).
    (
        "Scenarios/splitreason-a6000.yaml",
        [
            "trace.synthetic.requests=1200", "traffic.requests=1200", "traffic.rate_rps=0.1",
            "trace.synthetic.output_tokens={median: 12000, sigma: 0, min: 8192, max: 16384}"
        ]
    )
]
do {
    for (path, overrides) in runs {
        let sc = try ScenarioLoader.load(path: path, overrides: overrides)
        let trace = try Simulation.loadTrace(sc)
        let o = try HybridSimulator(scenario: sc, trace: trace).run()
        let tokens = o.requests.reduce(0) { $0 + $1.outputTokens }
        print(
            "\(path ?? "default"): events=\(o.events) tokens=\(tokens) preemptions=\(o.tiers.reduce(0) { $0 + $1.preemptions })"
        )
    }
} catch {
    print("handoff-guard: \(error)")
    exit(1)
}
