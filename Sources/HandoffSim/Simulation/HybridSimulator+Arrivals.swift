import HandoffModel
import HandoffSupport

/// Arrival processes: every request's arrival time (Poisson, gamma, constant, replayed, or a
/// closed loop of `traffic.concurrency` users), its state and sequences, and its admission.
extension Simulator {
    /// Creates every request of the run with its arrival time (drawn from the stream "arrivals")
    /// and one sequence per role.
    func createRequests(_ plan: PolicyPlan) throws {
        let traffic = scenario.traffic
        let roles = policy.roles.count
        reqs = Slab(capacity: totalRequests)
        seqs = Slab(capacity: totalRequests * sequencesPerRequest)
        var t = 0.0
        // The replayed trace's last arrival, found once (a repeat of the trace starts after it).
        var replaySpan: Double?
        let scale = traffic.arrival == .replay && traffic.rateGiven ? try replayTimeScale() : 1
        if scale != 1 { arrivalTimeScale = scale }
        for i in 0..<totalRequests {
            let tr = i % trace.count
            var arrival = 0.0
            switch traffic.arrival {
            case .poisson:
                t += arrivalRNG.exponential(mean: 1 / traffic.rateRps)
                arrival = t
            case .gamma:
                let cv = max(traffic.cv, 1e-9)
                t += arrivalRNG.gamma(shape: 1 / (cv * cv), scale: cv * cv / traffic.rateRps)
                arrival = t
            case .constant: arrival = Double(i) / traffic.rateRps
            case .replay:
                guard let a = trace.requests[tr].arrivalS else {
                    throw HandoffError.input(
                        "is replay but trace request \(trace.requests[tr].id)\(scenario.trace.path.map { " (\($0), request \(tr + 1))" } ?? "") has no arrival_s; record arrivals or use poisson",
                        field: "traffic.arrival")
                }
                // A trace shorter than the run repeats, shifted by its span each time round.
                if i >= trace.count && replaySpan == nil {
                    replaySpan = trace.requests.compactMap(\.arrivalS).max() ?? 0
                }
                arrival = (a + Double(i / trace.count) * (replaySpan ?? 0)) * scale
            case .closed_loop: arrival = 0
            }
            let base = seqs.endIndex
            for role in 0..<roles {
                seqs.append(SequenceState(request: RequestID(i), role: RoleID(role), replica: .none))
            }
            // A split tier's role has a second sequence: its decode pool's (after the roles').
            for (role, offset) in roleDecodeOffset.enumerated where offset >= 0 {
                seqs.append(SequenceState(request: RequestID(i), role: role, replica: .none))
            }
            reqs.append(
                RequestState(
                    trace: Int32(tr), arrival: arrival, segFirst: plan.first[tr], segCount: plan.count[tr],
                    seqBase: base, context: trace.requests[tr].promptTokens))
        }
    }

    /// The factor a replayed trace's arrival times are multiplied by so that their mean rate,
    /// (requests − 1) / (last − first arrival), is `traffic.rate_rps`: inter-arrival times keep
    /// their shape (bursts stay bursts), only the clock changes. The trace's times are rebased, so
    /// the first arrival stays where it was relative to 0.
    func replayTimeScale() throws -> Double {
        let times = trace.requests.compactMap(\.arrivalS)
        // A request without arrival_s is reported where it is replayed, by the loop.
        if times.count < trace.count { return 1 }
        guard times.count >= 2, let lo = times.min(), let hi = times.max(), hi > lo else {
            throw HandoffError.input(
                "cannot scale a replayed trace to rate_rps: its arrivals span 0 s (\(times.count) with arrival_s); remove rate_rps to replay it as recorded",
                field: "traffic.rate_rps")
        }
        let natural = Double(times.count - 1) / (hi - lo)
        return natural / scenario.traffic.rateRps
    }

    /// Schedules every arrival, or a closed loop's first `concurrency`.
    func scheduleArrivals() {
        if scenario.traffic.arrival == .closed_loop {
            nextClosedLoop = min(scenario.traffic.concurrency, totalRequests)
            for i in 0..<nextClosedLoop { schedule(0, .arrival, 0, RequestID(i).argument) }
        } else {
            for i in reqs.indices { schedule(reqs[i].arrival, .arrival, 0, i.argument) }
        }
    }

    /// In a closed loop, a request that ended at `t` lets the next user's arrive (after the think
    /// time when it was served).
    func nextClosedLoopArrival(at t: Double) {
        if scenario.traffic.arrival == .closed_loop, nextClosedLoop < totalRequests {
            schedule(t, .arrival, 0, RequestID(nextClosedLoop).argument)
            nextClosedLoop += 1
        }
    }

    func arrive(_ i: RequestID) {
        if scenario.traffic.arrival == .closed_loop { reqs[i].arrival = now }
        let limit = scenario.traffic.maxInFlight
        if limit > 0 && inFlight >= limit {
            reqs[i].rejected = true
            fail(i)
            return
        }
        inFlight += 1
        reqs[i].location = .entry
        if reqs[i].segCount == 0 {
            complete(i, at: now)
            return
        }
        if gated {
            ledger.add(at: now, output: trace.outputTokens(Int(reqs[i].trace)))
            if segments[Int(reqs[i].segFirst)].role != 0 { _ = admitOffload(i, segment: 0) }
        }
        if pipelined { startShadow(i) }
        startSegment(i, from: nil, handoff: false)
    }
}
