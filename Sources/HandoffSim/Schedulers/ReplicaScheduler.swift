import HandoffModel
import HandoffSupport

/// A replica's scheduler: what a replica runs next and what a finished run did, as Vidur's replica
/// schedulers plug into `_get_next_batch` and `on_batch_end`. The simulator's generic parameter
/// (`Simulator<Scheduler>`), so the compiler specialises the event loop for each scheduler and
/// the calls below cost what a direct call does (the instruction guard measures it).
///
/// A scheduler works with the simulator's replica sets and their moves (`+Replicas`: admission
/// queues, KV, eviction, preemption; `+Decode`: lazy decode accounting) and with the building
/// blocks of `+Iterations` (admission, a batch's prefill chunks and decoders, a run's launch and
/// its end). A new scheduler is one file in Schedulers/, a case of `SchedulerKind` (its name in
/// `simulation.scheduler`) and a case of `HybridSimulator.run`.
protocol ReplicaScheduler {
    /// Plans replica `r`'s next run if it is idle and has work: admission, the batch, the number
    /// of iterations the run takes as one event, and the event at its end.
    static func plan(_ sim: Simulator<Self>, replica r: ReplicaID)
    /// Ends replica `r`'s run: what each batch member's iterations produced, finished segments
    /// handed on, and the replica (and a colocated partner) planned again.
    static func finishRun(_ sim: Simulator<Self>, replica r: ReplicaID)
}

extension ReplicaScheduler {
    /// The end of a run both schedulers share (`+Iterations`' `finishRun`).
    @inline(__always) static func finishRun(_ sim: Simulator<Self>, replica r: ReplicaID) { sim.finishRun(r) }
}

/// The simulator, with the scenario's replica scheduler (`simulation.scheduler`, vLLM's by
/// default). `run` picks the scheduler once and runs a simulator specialised for it: each case
/// below names a concrete `Simulator<…>`, so its event loop is the compiler's specialisation (an
/// existential or generic call here would run the unspecialised loop: +10.6% instructions on the
/// guard workload, measured).
public final class HybridSimulator {
    let scenario: Scenario
    let trace: Trace
    /// Check the replica bookkeeping after every event (`checkInvariants()`; slow, for tests).
    public var checksInvariants = false
    /// Count decoding sequences lazily where a run batches them all (`HybridSimulator+Decode.swift`);
    /// off, every run is eager. The results are the same: tests compare the two.
    public var decodesLazily = true

    public init(scenario: Scenario, trace: Trace) {
        self.scenario = scenario
        self.trace = trace
    }

    /// Runs the simulation to completion. O((arrivals + handoffs + chunks + batch changes) · log).
    public func run() throws -> SimulationOutcome {
        switch scenario.simulation.scheduler {
        case .vllm: return try configured(Simulator<VLLMScheduler>(scenario: scenario, trace: trace)).run()
        case .prefill_first:
            return try configured(Simulator<PrefillFirstScheduler>(scenario: scenario, trace: trace)).run()
        }
    }

    @inline(__always) func configured<S>(_ sim: Simulator<S>) -> Simulator<S> {
        sim.checksInvariants = checksInvariants
        sim.decodesLazily = decodesLazily
        return sim
    }
}
